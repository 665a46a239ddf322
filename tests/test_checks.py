"""Checks of filled returns: each curator mistake yields its rule at the right cell, a clean return passes."""

from __future__ import annotations

from datetime import datetime

import openpyxl
import pytest

from contracts.catalogue import load_catalogue
from pipeline.fake_school import MISTAKES
from pipeline.intake import check_return
from pipeline.workbook import CODE_ROW, IDENTITY_SHEET

RECEIVED = datetime(2025, 12, 21, 10, 0)


def cell_of(path, sheet_code: str, column: str, row: int) -> str:
    """Where a column sits in the file, read independently with openpyxl via the code row."""
    ws = openpyxl.load_workbook(path)[load_catalogue().sheet(sheet_code).title]
    for c in range(1, ws.max_column + 1):
        if ws.cell(CODE_ROW, c).value == column:
            return f"{ws.cell(row, c).column_letter}{row}"
    raise AssertionError(column)


def test_clean_return_is_accepted(make_return, ws):
    result = check_return(make_return(), ws, RECEIVED)
    assert result.verdict == "accepted", [(i.rule, i.where, i.message) for i in result.issues]
    assert result.school_id == "ARH-001" and result.period == "2025-Q4"
    assert result.rows["База наставников"] > 0


# mistake -> (sheet, column, data row) the mistake was made in, as fake_school.make_mistake does
PLACES = {"bad_date": ("pairs", "start_date", 3), "unknown_mentor": ("pairs", "mentor_id", 3),
          "enum_typo": ("pairs", "status", 3), "missing_required": ("mentors", "full_name", 3),
          "not_confirmed": ("meta", "director_confirmed", 3), "profile_overflow": ("school_profile", "young_specialists_0_3", 3)}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_is_reported_at_its_cell(make_return, ws, mistake):
    path = make_return(mistake)
    result = check_return(path, ws, RECEIVED)
    rule = MISTAKES[mistake][0]
    sheet, column, row = PLACES[mistake]
    assert result.verdict == "rejected"
    hits = [i for i in result.issues if i.rule == rule]
    assert hits, [(i.rule, i.where) for i in result.issues]
    assert hits[0].sheet == sheet and hits[0].cell == cell_of(path, sheet, column, row)
    assert any("а" <= ch <= "я" for ch in hits[0].message.lower())


def test_late_return_is_accepted_with_a_flag(make_return, ws):
    result = check_return(make_return(), ws, datetime(2026, 2, 1, 9, 0))
    assert result.verdict == "accepted_with_warnings"
    assert [i.rule for i in result.issues] == ["X14"]


def test_form_synonyms_are_normalised_and_counted(make_return, ws):
    def spell(data):
        data["pairs"][0]["form"] = "Педагог-педагог"
    result = check_return(make_return(edit=spell), ws, RECEIVED)
    assert result.verdict == "accepted"
    assert result.book.sheets["pairs"].frame["form"].iloc[0] == "педагог – педагог"
    assert result.book.normalised >= 1


def test_russian_number_and_date_text_is_read(make_return, ws):
    def as_text(data):
        data["school_profile"][0]["ped_staff_total"] = "1\u00a0204"
        data["pairs"][0]["start_date"] = "01.09.2025"
        data["mentors"][0]["ped_experience_years"] = "12,5"
    result = check_return(make_return(edit=as_text), ws, RECEIVED)
    frames = result.book.sheets
    assert frames["school_profile"].frame["ped_staff_total"].iloc[0] == 1204
    assert str(frames["pairs"].frame["start_date"].iloc[0].date()) == "2025-09-01"
    assert frames["mentors"].frame["ped_experience_years"].iloc[0] == 12.5


def test_names_of_participants_in_practice_descriptions_are_errors(make_return, ws):
    def leak(data):
        name = data["mentees"][0]["full_name"]
        data["best_practices"][0]["description"] = f"Работа с {name} дала результат."
    result = check_return(make_return(edit=leak), ws, RECEIVED)
    assert any(i.rule == "X12" and i.severity == "error" for i in result.issues)


def test_edited_identity_is_rejected(make_return, ws, tmp_path):
    path = make_return()
    wb = openpyxl.load_workbook(path)
    ident = wb[IDENTITY_SHEET]
    for row in ident.iter_rows():
        if row[0].value == "school_id":
            row[1].value = "ARH-002"
    tampered = tmp_path / "tampered.xlsx"
    wb.save(tampered)
    result = check_return(tampered, ws, RECEIVED)
    assert result.verdict == "rejected" and [i.rule for i in result.issues] == ["M02"]


def test_title_changed_to_another_school_is_rejected(make_return, ws):
    def other(data):
        data["meta"][0]["school_id"] = "ARH-005"
    result = check_return(make_return(edit=other), ws, RECEIVED)
    assert any(i.rule == "M06" and i.value == "ARH-005" for i in result.issues)
    assert result.verdict == "rejected"


def test_foreign_signing_key_is_rejected(make_return, ws):
    ws.signing_key = "another-municipality-key"
    result = check_return(make_return(), ws, RECEIVED)
    assert [i.rule for i in result.issues] == ["M02"]
