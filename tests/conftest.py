"""Shared fixtures: a temporary workspace and templates/returns produced by the real template writer and the
fake school (never hand-made expectations of our own output)."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from contracts.catalogue import load_catalogue
from pipeline.assets.partitions import partition_key
from pipeline.config import DEMO_SIGNING_KEY, Workspace
from pipeline.runner import consolidate, instance, materialize
from pipeline.xlsx.templates import write_template
from samples import demo
from samples.fake_school import fill, school_data

os.environ.setdefault("SVOD_SIGNING_KEY", DEMO_SIGNING_KEY)  # tests sign as the demo does; production has no default

MUNICIPALITY, PERIOD, SCHOOL = "arkhangelsk", "2025-Q4", "ARH-001"
SUBMITTED = date(2025, 12, 20)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.resolve(tmp_path / "home")


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    return write_template(out, MUNICIPALITY, PERIOD, SCHOOL, DEMO_SIGNING_KEY, date(2025, 10, 1))


@pytest.fixture
def make_return(template: Path, tmp_path: Path):
    """make_return(mistake=None, edit=None) -> path of a filled return; `edit(data)` may change rows first."""
    counter = iter(range(10**6))

    def build(mistake: str | None = None, edit=None, seed: int = 7, size: str = "medium") -> Path:
        from samples.fake_school import make_mistake

        data = school_data(template, seed, size, SUBMITTED)
        if mistake:
            make_mistake(data, mistake)
        if edit:
            edit(data)
        return fill(template, tmp_path / f"return_{next(counter)}.xlsx", data)

    return build


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


E2E_MUNICIPALITY, E2E_PERIOD = "kedrovy", "2025"
CANARY = "Канареечкина Агата Петровна"


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Workspace:
    ws = Workspace.resolve(tmp_path_factory.mktemp("e2e") / "home")
    materialize(ws, instance(ws), ["school_templates"], partition_key(E2E_MUNICIPALITY, E2E_PERIOD))
    story = demo.fill_inbox(ws, [(E2E_MUNICIPALITY, E2E_PERIOD)])
    # a canary name in one school's mentor base must never reach the region
    victim = next(r for r in story if r.mistake is None)
    path = demo.inbox_name(ws, victim.school_id, victim.period)
    wb = openpyxl.load_workbook(path)
    wb[load_catalogue().sheet("mentors").title]["B3"] = CANARY
    wb.save(path)
    demo._drop(path, victim.received)
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
