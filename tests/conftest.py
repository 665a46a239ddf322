"""Shared fixtures: a temporary workspace and templates/returns produced by the real template writer and the
fake school (never hand-made expectations of our own output); the test tiers, marked by what a test uses.

Dagster and the demo are imported inside the fixtures that need them, so a fast test does not pay for them.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from pipeline.config import DEMO_SIGNING_KEY, Workspace
from tests.support.office import soffice

os.environ.setdefault(
    "SVOD_SIGNING_KEY", DEMO_SIGNING_KEY
)  # tests sign as the demo does; production has no default

MUNICIPALITY, PERIOD, SCHOOL = "arkhangelsk", "2025-Q4", "ARH-001"
SUBMITTED = date(2025, 12, 20)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.resolve(tmp_path / "home")


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    from pipeline.reference import Issuer
    from pipeline.xlsx.templates import write_template

    out = tmp_path_factory.mktemp("templates")
    return write_template(out, Issuer(DEMO_SIGNING_KEY), MUNICIPALITY, PERIOD, SCHOOL, date(2025, 10, 1))


@pytest.fixture
def make_return(template: Path, tmp_path: Path):
    """make_return(mistake=None, edit=None) -> path of a filled return; `edit(data)` may change rows first."""
    counter = iter(range(10**6))

    def build(mistake: str | None = None, edit=None, seed: int = 7, size: str = "medium") -> Path:
        from samples.fake_school import fill, make_mistake, school_data

        data = school_data(template, seed, size, SUBMITTED)
        if mistake:
            make_mistake(data, mistake)
        if edit:
            edit(data)
        return fill(template, tmp_path / f"return_{next(counter)}.xlsx", data)

    return build


E2E_MUNICIPALITY, E2E_PERIOD = "kedrovy", "2025"
CANARY = "Канареечкина Агата Петровна"


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Workspace:
    import openpyxl

    from contracts.catalogue import load_catalogue
    from pipeline.assets.partitions import partition_key
    from pipeline.in_process import consolidate, instance, materialize
    from samples import demo

    ws = Workspace.resolve(tmp_path_factory.mktemp("e2e") / "home")
    materialize(ws, instance(ws), ["school_templates"], partition_key(E2E_MUNICIPALITY, E2E_PERIOD))
    story = demo.fill_inbox(ws, [(E2E_MUNICIPALITY, E2E_PERIOD)])
    # a canary name in one school's mentor base must never reach the region
    victim = next(r for r in story if r.mistake is None)
    path = demo.inbox_name(ws, victim.school_id, victim.period)
    wb = openpyxl.load_workbook(path)
    wb[load_catalogue().sheet("mentors").title]["B3"] = CANARY
    wb.save(path)
    os.utime(path, (victim.received.timestamp(), victim.received.timestamp()))  # as the fake curator sent it
    consolidate(ws, [(E2E_MUNICIPALITY, E2E_PERIOD)], settle=0)
    assert demo.send_corrections(ws, story), "the sample must include a corrected resubmission"
    consolidate(ws, [(E2E_MUNICIPALITY, E2E_PERIOD)], settle=0)
    return ws


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Each test's outcome on its item (`item.failed`), for fixtures that keep evidence of a failure."""
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True
    return report


# Tiers: what a test uses decides its marker (pyproject.toml lists them); `-m fast` runs the rest.
E2E_FIXTURES = {
    "published",
    "story",
    "two_years",
    "reference",
}  # fixtures that build a workspace through Dagster
HEAVY = ("e2e", "slow", "browser", "postgres", "libreoffice")
MISSING = [
    ("libreoffice", lambda: soffice() is None, "LibreOffice (soffice)"),
    (
        "browser",
        lambda: not (shutil.which("chromium") and shutil.which("chromedriver")),
        "chromium with chromedriver",
    ),
]
FIRST = ("postgres", "slow", "browser", "e2e")  # started first: the longest work, so that two
# workers finish together (pytest -n 2)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        if not any(item.get_closest_marker(name) for name in HEAVY):
            item.add_marker(pytest.mark.fast)
        for marker, missing, what in MISSING:
            # CI must have them all
            if item.get_closest_marker(marker) and missing() and not os.environ.get("CI"):
                item.add_marker(pytest.mark.skip(reason=f"{what} is not installed"))

    def rank(item) -> int:
        return min((FIRST.index(name) for name in FIRST if item.get_closest_marker(name)), default=len(FIRST))

    modules: dict[str, int] = {}
    for item in items:  # a module keeps its tests together (its fixtures are set up once)
        modules[item.module.__name__] = min(modules.get(item.module.__name__, len(FIRST)), rank(item))
    items.sort(key=lambda item: modules[item.module.__name__])
