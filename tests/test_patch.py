"""The annotated copy made by patching the school's own file: every part not annotated stays byte for byte, the
values read the same, the notes survive LibreOffice, and no hostile or damaged file makes it write a broken one."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from contracts.catalogue import load_catalogue
from pipeline.xlsx.annotated import PATCHED, REWRITTEN, annotate
from pipeline.xlsx.container import precheck
from pipeline.xlsx.patch import CannotPatch, patch
from samples.reliability import corpus, mutations
from tests.support import check_return

from .test_libreoffice import resave

RECEIVED = datetime(2025, 12, 21, 10)
ANNOTATION_PARTS = {"xl/styles.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"}


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _values(data: bytes) -> dict[str, list]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return {
        ws.title: [[c.value for c in row] for row in ws.iter_rows()]
        for ws in wb.worksheets
        if ws.title != "Ошибки"
    }


@pytest.fixture(scope="module")
def flagged(template, tmp_path_factory):
    """A return with errors and warnings at cells, and its issues."""
    from pipeline.config import Workspace
    from samples.fake_school import fill, make_mistake, school_data

    data = school_data(template, 5, "medium", RECEIVED.date())
    for mistake in ("bad_date", "enum_typo", "unknown_mentor"):
        make_mistake(data, mistake)
    data["school_profile"][0]["students_age_10_18"] = "сто"
    path = fill(template, tmp_path_factory.mktemp("flagged") / "r.xlsx", data)
    ws = Workspace.resolve(tmp_path_factory.mktemp("home") / "home")
    return path, check_return(path, ws, RECEIVED).issues


def test_only_the_annotated_parts_change(flagged):
    path, issues = flagged
    original = path.read_bytes()
    before, after = _parts(original), _parts(patch(original, issues))
    titles = {load_catalogue().sheet(i.sheet).title for i in issues if i.sheet and i.cell}
    assert len(titles) >= 2
    changed = {n for n in before if before[n] != after[n]}
    sheet_parts = {n for n in changed if n.startswith("xl/worksheets/sheet")}
    assert changed - sheet_parts <= ANNOTATION_PARTS
    assert len(sheet_parts) <= len(titles) + 1  # the flagged sheets and the one that was selected
    added = set(after) - set(before)
    assert {n for n in added if "comments" in n} and {n for n in added if n.endswith(".vml")}
    assert all(before[n] == after[n] for n in before if n not in changed)  # byte for byte
    assert len(before) - len(changed) >= 12


def test_the_copy_reads_the_same_values_and_shows_every_flagged_cell(flagged):
    path, issues = flagged
    copy = patch(path.read_bytes(), issues)
    assert _values(copy) == _values(path.read_bytes())
    wb = openpyxl.load_workbook(io.BytesIO(copy))
    assert wb.sheetnames[0] == "Ошибки" and wb.active.title == "Ошибки"
    for i in issues:
        if i.sheet and i.cell:
            cell = wb[load_catalogue().sheet(i.sheet).title][i.cell]
            assert cell.comment is not None and i.message in cell.comment.text, i.cell
            assert cell.fill.fgColor.rgb in ("FFFFC7CE", "FFFFEB9C")
    listed = [row[3] for row in wb["Ошибки"].iter_rows(min_row=2, values_only=True)]
    assert sorted(listed) == sorted(i.message for i in issues)


def test_a_flagged_date_keeps_its_number_format(flagged):
    path, issues = flagged
    date_issue = next(i for i in issues if i.rule == "C05")
    title = load_catalogue().sheet(date_issue.sheet).title
    before = openpyxl.load_workbook(path)[title][date_issue.cell]
    after = openpyxl.load_workbook(io.BytesIO(patch(path.read_bytes(), issues)))[title][date_issue.cell]
    assert after.number_format == before.number_format and after.font.b == before.font.b
    assert [getattr(after.border, side).style for side in ("left", "right", "top", "bottom")] == [
        getattr(before.border, side).style for side in ("left", "right", "top", "bottom")
    ]


@pytest.mark.libreoffice
def test_a_libreoffice_return_patched_reopens_in_libreoffice_with_its_notes(flagged, tmp_path):
    path, issues = flagged
    saved = resave(path, tmp_path / "school")  # the school saved its file in LibreOffice
    copy, method = annotate(saved, issues, tmp_path / "copy.xlsx")
    assert method == PATCHED
    again = openpyxl.load_workbook(resave(copy, tmp_path / "reopened"))
    cell_issue = next(i for i in issues if i.rule == "C05")
    cell = again[load_catalogue().sheet(cell_issue.sheet).title][cell_issue.cell]
    assert cell.comment is not None and "не распознано как дата" in cell.comment.text
    assert "Ошибки" in again.sheetnames


@pytest.mark.slow  # the whole hostile corpus
def test_hostile_and_damaged_files_never_give_a_broken_copy(flagged, tmp_path):
    path, issues = flagged
    good = path.read_bytes()
    cases = corpus(good, {}) + mutations(good, 120, seed=3)
    patched = refused = 0
    for case in cases:
        if precheck(case.data, case.name) is not None or not _parses(case.data):
            continue  # refused before or while parsing: only parsed returns are annotated
        try:
            copy = patch(case.data, issues)
        except (CannotPatch, zipfile.BadZipFile, UnicodeDecodeError, KeyError):
            refused += 1
            continue
        if _opens(case.data):  # what opened before opens after (a school's own broken part stays its own)
            openpyxl.load_workbook(io.BytesIO(copy))
        names = CalamineWorkbook.from_filelike(io.BytesIO(copy)).sheet_names
        assert "Ошибки" in names and set(
            CalamineWorkbook.from_filelike(io.BytesIO(case.data)).sheet_names
        ) < set(names)
        patched += 1
    assert patched >= 20


def _opens(data: bytes) -> bool:
    try:
        openpyxl.load_workbook(io.BytesIO(data))
    except Exception:
        return False
    return True


def _parses(data: bytes) -> bool:
    from pathlib import Path

    from pipeline.xlsx.reader import read_workbook

    try:
        read_workbook(Path("return.xlsx"), data)
    except Exception:
        return False
    return True


def test_a_file_that_already_has_an_issues_sheet_is_rewritten(flagged, tmp_path):
    path, issues = flagged
    first, _ = annotate(path, issues, tmp_path / "first.xlsx")
    again, method = annotate(
        first, issues, tmp_path / "again.xlsx"
    )  # the school sent its annotated copy back
    assert method == REWRITTEN and openpyxl.load_workbook(again).sheetnames.count("Ошибки") == 1
