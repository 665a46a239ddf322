"""Real clients: workbooks re-saved by LibreOffice Calc (headless soffice) are read like our own."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from contracts.catalogue import load_catalogue
from pipeline.xlsx.reader import read_workbook
from pipeline.xlsx.school_layout import LISTS_SHEET
from tests.support import check_return
from tests.support.office import convert

# In CI (CI=true) LibreOffice is installed by .ci/run, so a missing soffice fails instead of skipping.
pytestmark = pytest.mark.libreoffice


def resave(path: Path, out_dir: Path) -> Path:
    return convert(path, "xlsx:Calc MS Excel 2007 XML", out_dir)


def test_return_saved_by_libreoffice_is_accepted_with_the_same_rows(make_return, ws, tmp_path):
    original = make_return()
    saved = resave(original, tmp_path / "lo")
    assert saved.read_bytes() != original.read_bytes()
    result = check_return(saved, ws, datetime(2025, 12, 21, 10))
    assert result.verdict == "accepted", [(i.rule, i.where, i.message) for i in result.issues]
    ours, theirs = read_workbook(original), read_workbook(saved)
    for code in ours.sheets:
        a, b = ours.sheets[code].frame, theirs.sheets[code].frame
        assert a.astype(str).equals(b.astype(str)), code


def test_template_saved_by_libreoffice_keeps_every_dropdown(template, tmp_path):
    saved = resave(template, tmp_path / "lo")

    def dropdowns(path):
        wb = openpyxl.load_workbook(path)
        return {
            s.title: sorted(
                dv.formula1.replace("$", "").replace("'", "")
                for dv in wb[s.title].data_validations.dataValidation
                if dv.type == "list"
            )
            for s in load_catalogue().sheets
        }

    assert dropdowns(saved) == dropdowns(template)

    def lists(path):
        return [list(r) for r in openpyxl.load_workbook(path)[LISTS_SHEET].iter_rows(values_only=True)]

    assert lists(saved) == lists(template)


SYSTEM_PYTHON = "/usr/bin/python3"


def has_uno() -> bool:
    return (
        Path(SYSTEM_PYTHON).exists()
        and subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(not has_uno() and not os.environ.get("CI"), reason="python3-uno is not installed")
def test_return_filled_in_libreoffice_reads_like_one_filled_by_openpyxl(template, ws, tmp_path):
    import json
    from datetime import date

    from pipeline.xlsx.school_layout import CODE_ROW, FIRST_DATA_ROW, column_letter
    from samples.fake_school import fill, school_data

    data = school_data(template, 11, "small", date(2025, 12, 20))
    by_openpyxl = fill(template, tmp_path / "openpyxl.xlsx", data)
    wb = openpyxl.load_workbook(template)
    values: dict[str, dict] = {}
    for sheet in load_catalogue().sheets:
        ws_ = wb[sheet.title]
        where = {ws_.cell(CODE_ROW, c).value: column_letter(c - 1) for c in range(1, ws_.max_column + 1)}
        for r, row in enumerate(data.get(sheet.code, []), start=FIRST_DATA_ROW):
            for code, value in row.items():
                if value is None:
                    continue
                if isinstance(value, date):
                    value = (value - date(1899, 12, 30)).days
                values.setdefault(sheet.title, {})[f"{where[code]}{r}"] = value
    spec = tmp_path / "values.json"
    spec.write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")
    by_calc = tmp_path / "calc.xlsx"
    subprocess.run(
        [SYSTEM_PYTHON, str(Path(__file__).with_name("lo_fill.py")), str(template), str(spec), str(by_calc)],
        check=True,
        timeout=300,
    )
    result = check_return(by_calc, ws, datetime(2025, 12, 21, 10))
    assert result.verdict == "accepted", [(i.rule, i.where, i.message) for i in result.issues]
    ours, theirs = read_workbook(by_openpyxl), read_workbook(by_calc)
    for code in ours.sheets:
        assert ours.sheets[code].frame.astype(str).equals(theirs.sheets[code].frame.astype(str)), code


def test_annotated_copy_opens_in_libreoffice_with_its_notes(make_return, ws, tmp_path):
    from pipeline.intake.steps import dry_run

    result = dry_run(make_return("bad_date"), ws, tmp_path / "feedback")
    annotated = next(p for p in result.feedback if p.name.endswith("проверка.xlsx"))
    saved = resave(annotated, tmp_path / "lo")
    wb = openpyxl.load_workbook(saved)
    assert wb.sheetnames[0] == "Ошибки"
    issue = next(i for i in result.issues if i.rule == "C05")
    cell = wb[load_catalogue().sheet(issue.sheet).title][issue.cell]
    assert cell.comment is not None and "ДД.ММ.ГГГГ" in cell.comment.text and "C05" not in cell.comment.text
    assert cell.value == "31.02.2025"
