"""Shared fixtures: a temporary workspace and templates/returns produced by the real template writer and the
fake school (never hand-made expectations of our own output)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from pipeline.config import DEV_SIGNING_KEY, Workspace
from pipeline.fake_school import fill, school_data
from pipeline.templates import write_template

MUNICIPALITY, PERIOD, SCHOOL = "arkhangelsk", "2025-Q4", "ARH-001"
SUBMITTED = date(2025, 12, 20)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.resolve(tmp_path / "home")


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    return write_template(out, MUNICIPALITY, PERIOD, SCHOOL, DEV_SIGNING_KEY, date(2025, 10, 1))


@pytest.fixture
def make_return(template: Path, tmp_path: Path):
    """make_return(mistake=None, edit=None) -> path of a filled return; `edit(data)` may change rows first."""
    counter = iter(range(10**6))

    def build(mistake: str | None = None, edit=None, seed: int = 7, size: str = "medium") -> Path:
        from pipeline.fake_school import make_mistake

        data = school_data(template, seed, size, SUBMITTED)
        if mistake:
            make_mistake(data, mistake)
        if edit:
            edit(data)
        return fill(template, tmp_path / f"return_{next(counter)}.xlsx", data)

    return build


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")
