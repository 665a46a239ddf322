"""What people read around the figures: schools' prompts, receipts and annotated copies, staff's command line,
lineage at every level, and suppression in regional outputs. Each test reads what svod wrote, as a person would."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from contracts.catalogue import load_catalogue
from pipeline.cli import app
from pipeline.domain.indicators import INDICATORS
from pipeline.domain.suppression import FEW_PEOPLE as SUPPRESSED
from pipeline.publish import lineage
from pipeline.reference import load_reference
from pipeline.rules import RULES
from pipeline.xlsx.school_layout import GUIDE_SHEET
from pipeline.xlsx.templates import requirement
from tests.support import check_return, stacked_facts
from tests.support.books import context
from tests.support.office import convert

from .conftest import E2E_MUNICIPALITY, E2E_PERIOD, MUNICIPALITY, SCHOOL

RECEIVED = datetime(2025, 12, 21, 10)
CODES = {c.code for s in load_catalogue().sheets for c in s.columns if "_" in c.code} | {
    s.code for s in load_catalogue().sheets if "_" in s.code
}
SPEC_NOTES = re.compile(r"guess|по памяти|см\. 2\.|\bS[0-4]\b|⇒")


def _form_columns():
    forms = set(load_catalogue().sheet("pairs").column("form").values)
    return [(s.code, c.code) for s in load_catalogue().sheets for c in s.columns if forms <= set(c.values)]


def test_every_form_column_accepts_every_synonym_and_stores_the_canonical_form(make_return, ws):
    columns = _form_columns()
    assert ("survey_summary", "form") in columns and len(columns) >= 4
    synonym = {
        "педагог – педагог": "учитель – учитель",
        "учитель – ученик": "педагог – обучающийся",
        "руководитель-наставник – молодой руководитель": "руководитель – молодой руководитель",
        "ученик – ученик": "обучающийся – обучающийся",
    }

    def respell(data):
        for sheet, column in columns:
            for row in data.get(sheet, []):
                if row.get(column):
                    row[column] = "; ".join(synonym.get(v, v) for v in str(row[column]).split("; "))

    result = check_return(make_return(edit=respell), ws, RECEIVED)
    assert result.verdict != "rejected", [(i.rule, i.where, i.message) for i in result.issues]
    assert not {i.rule for i in result.issues} & {"C06", "X11", "X03"}
    for sheet, column in columns:
        stored = [v for v in result.book.column(sheet, column) if v]
        assert stored and all(
            part in load_catalogue().sheet(sheet).column(column).values
            for v in stored
            for part in v.split("; ")
        ), (sheet, column)


def test_template_texts_are_plain_russian(template):
    wb = openpyxl.load_workbook(template)
    texts = [str(c.value) for row in wb[GUIDE_SHEET].iter_rows() for c in row if c.value]
    for ws in wb.worksheets:
        for dv in ws.data_validations.dataValidation:
            texts += [t for t in (dv.promptTitle, dv.prompt, dv.errorTitle, dv.error) if t]
    assert len(texts) > 100
    for text in texts:
        assert not SPEC_NOTES.search(text), text
        assert not any(re.search(rf"\b{code}\b", text) for code in CODES), text
    contact = load_reference().municipalities[MUNICIPALITY].contact
    assert any(contact.phone in t and contact.email in t for t in texts)


def test_headers_are_coloured_by_the_requirement_the_checks_apply(template, make_return, ws):
    wb = openpyxl.load_workbook(template)
    school = load_reference().municipalities[MUNICIPALITY].school(SCHOOL)
    title = {"school_type": school.type, "municipality_code": MUNICIPALITY}
    optional = []
    for sheet in load_catalogue().sheets:
        header = {c.value.removesuffix(" (*)").removesuffix(" *"): c for c in wb[sheet.title][1] if c.value}
        for col in sheet.columns:
            need = requirement(col, title)
            assert (
                header[col.label].fill.fgColor.rgb[-6:] == {"Y": "FCE4D6", "C": "FFF2CC", "N": "DDEBF7"}[need]
            ), col.code
            if need == "N":
                optional.append((sheet.code, col.code))
    assert ("school_profile", "students_total") not in optional  # refused when empty, so coloured required

    def blank_optional(data):
        for sheet, column in optional:
            for row in data.get(sheet, []):
                row.pop(column, None)

    result = check_return(make_return(edit=blank_optional), ws, RECEIVED)
    assert not [i for i in result.issues if i.rule in ("C01", "C02") and (i.sheet, i.column) in optional]


def test_one_mistake_gives_one_message(make_return, ws):
    def mistakes(data):
        data["school_profile"][0]["students_age_10_18"] = "сто"  # not a number, in a column required here
        data["pairs"][0]["start_date"] = "31.02.2025"  # not a date
        data["pairs"][1]["form"] = "наставник – ученик"  # not on the list

    result = check_return(make_return(edit=mistakes), ws, RECEIVED)
    by_cell: dict = {}
    for i in result.issues:
        by_cell.setdefault((i.sheet, i.row, i.column), []).append(i.rule)
    assert all(len(rules) == 1 for rules in by_cell.values()), by_cell
    assert "X05" not in {i.rule for i in result.issues}
    assert [i.rule for i in result.issues if (i.sheet, i.column) == ("pairs", "form")] == ["C06"]


def test_a_pair_that_ended_inside_the_period_fits_either_status():
    mentor = {"mentor_id": "MR-0001", "mentor_category": "педагогический работник ОО", "pd_consent": "да"}
    ended = {
        "pair_group_id": "PG-0001",
        "mentor_id": "MR-0001",
        "mentee_id": "ME-0001",
        "status": "завершена",
        "start_date": date(2025, 9, 1),
        "actual_end_date": date(2025, 11, 15),
    }
    for status in ("резерв", "активный (закреплён)"):
        assert RULES["X05"](context({"mentors": [{**mentor, "status": status}], "pairs": [ended]})) == []
    running = {**ended, "status": "действует", "actual_end_date": None}
    assert RULES["X05"](context({"mentors": [{**mentor, "status": "резерв"}], "pairs": [running]}))
    assert RULES["X05"](context({"mentors": [{**mentor, "status": "резерв"}], "pairs": [running]}))[
        0
    ].message.endswith(".")


def test_a_late_rejected_return_is_told_what_to_do_and_where_its_marks_are(make_return, ws, tmp_path):
    from pipeline.intake.steps import dry_run

    result = dry_run(make_return(mistake="bad_date"), ws, tmp_path)
    text = next(p for p in result.feedback if p.name.endswith("квитанция.txt")).read_text(encoding="utf-8")
    copy = next(p for p in result.feedback if p.name.endswith("проверка.xlsx"))
    assert "НЕ ПРИНЯТ" in text and "принят с отметкой" not in text
    assert copy.name in text and "Исправьте ошибки" in text and "отправьте исправленный файл" in text
    assert not re.search(r"\b[CFMPX]\d{2}a?\b", text)  # no rule codes where a curator reads
    book = openpyxl.load_workbook(next(p for p in result.feedback if p.name.endswith("квитанция.xlsx")))
    assert "НЕ ПРИНЯТ" in [c.value for row in book.active.iter_rows() for c in row]
    marks = openpyxl.load_workbook(copy)["Ошибки"]
    sheets = [r[0] for r in marks.iter_rows(min_row=2, values_only=True)]
    order = ["Файл целиком", *[s.title for s in load_catalogue().sheets]]
    assert sheets == sorted(sheets, key=order.index)  # grouped by sheet, in the workbook's order
    assert marks.page_setup.orientation == "landscape" and marks.page_setup.fitToWidth == 1
    assert not any(
        re.search(r"\b[CFMPX]\d{2}a?\b", str(c)) for r in marks.iter_rows(values_only=True) for c in r
    )


@pytest.mark.libreoffice
def test_an_ods_resave_is_answered_to_its_school(make_return, ws, tmp_path):
    from pipeline.intake.steps import dry_run

    path = make_return()
    convert(path, "ods", tmp_path)
    result = dry_run(tmp_path / (path.stem + ".ods"), ws, tmp_path / "answers")
    assert result.verdict == "rejected" and [i.rule for i in result.issues] == ["F03"]
    assert result.school_id == SCHOOL and result.feedback[0].parent.name == SCHOOL


@pytest.mark.parametrize(
    "args, words",
    [
        (["status", "--period", "2024-2025"], "Коды периодов"),
        (["status", "--period", "2025-q4"], "2025-Q4"),
        (["status", "--period", "2025", "--municipality", "moskva"], "Есть: kedrovy"),
        (["approve", "--school", "XYZ-999", "--period", "2025"], "нет в реестре"),
        (["run", "--period", "1999"], "Коды периодов"),
    ],
)
def test_wrong_input_is_refused_in_russian(published, args, words):
    result = CliRunner().invoke(app, [*args, "--home", str(published.home)], terminal_width=200)
    assert result.exit_code == 2 and words in " ".join(result.output.split()), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_home_without_a_warehouse_is_refused_and_not_created(tmp_path):
    for args in (["status", "--period", "2025"], ["run", "--period", "2025"], ["rebuild"]):
        result = CliRunner().invoke(app, [*args, "--home", str(tmp_path / "forgotten")])
        assert result.exit_code == 2 and "нет хранилища svod" in " ".join(result.output.split()), (
            result.output
        )
    assert not (tmp_path / "forgotten").exists()


def test_status_gives_totals_and_reasons(published):
    result = CliRunner().invoke(
        app, ["status", "--period", E2E_PERIOD, "--home", str(published.home)], terminal_width=250
    )
    assert result.exit_code == 0 and "Всего ОО: 6" in " ".join(result.output.split()), result.output


def test_explain_answers_every_lineage_cell_of_both_workbooks(published):
    ref = load_reference()
    region = ref.municipalities[E2E_MUNICIPALITY].region
    books = [
        published.out / E2E_MUNICIPALITY / f"svod_{E2E_MUNICIPALITY}_{E2E_PERIOD}.xlsx",
        next((published.out / "region").glob(f"svod_region_{region}_*.xlsx")),
    ]
    runner = CliRunner()
    for book in books:
        ws = openpyxl.load_workbook(book)["Происхождение"]
        cells = [c.coordinate for row in ws.iter_rows(max_row=8) for c in row if c.value not in (None, "")]
        for cell in cells:
            result = runner.invoke(
                app,
                [
                    "explain",
                    "--workbook",
                    str(book),
                    "--cell",
                    f"Происхождение!{cell}",
                    "--home",
                    str(published.home),
                    "--json",
                ],
            )
            assert result.exit_code in (0, 2), (book.name, cell, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (book.name, cell)
            if result.exit_code == 2:
                assert "не содержит показателя" in result.output


def test_the_regional_total_row_explains_down_to_the_school_cells(published):
    """Each figure of «ИТОГО по региону» is a stored regional figure: its value is the cell's, and its sources are
    the school cells of the municipal figures it sums."""
    region = load_reference().municipalities[E2E_MUNICIPALITY].region
    book = next((published.out / "region").glob(f"svod_region_{region}_*.xlsx"))
    sheet = openpyxl.load_workbook(book)["Показатели по МО"]
    total = next(r for r in sheet.iter_rows(min_row=4) if r[0].value == "ИТОГО по региону")
    linked = [c for c in total[2:] if c.hyperlink]
    assert len(linked) == len(total) - 2, "every total links to its lineage row"
    for c in linked:
        answer = lineage.explain(book, f"Показатели по МО!{c.coordinate}", published.database)
        assert answer["level"] == "region" and answer["entity"] == region
        if c.value != SUPPRESSED:
            assert answer["value"] == (None if c.value == "—" else c.value), c.coordinate
        municipal = next(
            r for r in sheet.iter_rows(min_row=4) if r[0].value not in (None, "ИТОГО по региону")
        )
        part = lineage.explain(
            book, f"Показатели по МО!{municipal[c.column - 1].coordinate}", published.database
        )
        assert {(s["sha256"], s["sheet"], s["cell"]) for s in answer["sources"]} == {
            (s["sha256"], s["sheet"], s["cell"]) for s in part["sources"]
        }, c.coordinate


def test_no_small_count_of_people_in_the_regional_workbook(published, tmp_path):
    """Every indicator that counts people, given a small count, is hidden in the regional workbook: the cell, the
    region's total (a single municipality would reveal it) and the numerator on the lineage sheet."""
    from pipeline.publish.regional import write_regional

    home = tmp_path / "home"
    shutil.copytree(published.home, home, ignore=shutil.ignore_patterns(".dagster", "out", "outbox"))
    people = [ind for ind in INDICATORS if ind.counts_people]
    assert {"I18", "I19", "I01"} <= {ind.code for ind in people}
    region = load_reference().municipalities[E2E_MUNICIPALITY].region
    with duckdb_connect(home) as con:
        con.execute(
            "UPDATE figure SET numerator = 3 WHERE level = 'municipality' AND list_contains(?, indicator)",
            [[ind.code for ind in people]],
        )
        path = write_regional(con, load_reference(), tmp_path / "out", region, {E2E_MUNICIPALITY: E2E_PERIOD})
    book = openpyxl.load_workbook(path)
    header = [str(c.value or "").split(" ")[0] for c in book["Показатели по МО"][3]]
    rows = list(book["Показатели по МО"].iter_rows(min_row=4, values_only=True))
    cuts = {
        str(r[0]).split(" ")[0]: r[1:] for r in book["Разрезы"].iter_rows(min_row=2, values_only=True) if r[0]
    }
    lineage = {r[1]: r for r in book["Происхождение"].iter_rows(min_row=2, values_only=True)}
    for ind in people:
        shown = [row[header.index(ind.code)] for row in rows] if ind.code in header else cuts[ind.code]
        assert shown and all(value == SUPPRESSED for value in shown), ind.code
        assert lineage[ind.title][4] == "скрыто" and lineage[ind.title][3] == SUPPRESSED, ind.code


def duckdb_connect(home: Path):
    from pipeline.store.warehouse import connect

    return connect(home / "svod.duckdb")


def test_a_period_with_no_accepted_return_publishes_nothing(published, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(published.home, home, ignore=shutil.ignore_patterns(".dagster"))
    result = CliRunner().invoke(
        app, ["run", "--period", "2026", "--municipality", E2E_MUNICIPALITY, "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    assert not list((home / "out" / E2E_MUNICIPALITY).glob("*2026*.xlsx"))
    assert "Сводка не выпущена (нет принятых отчётов)" in result.output


def test_an_empty_sheet_is_named_in_lineage_not_its_code_row(make_return, ws):
    import pandas as pd

    from pipeline.domain.indicators import EMPTY_SHEET, Scope, return_figures

    result = check_return(make_return(edit=lambda data: data.update(awards=[])), ws, RECEIVED)
    frames, letters = stacked_facts(result.book, SCHOOL)
    _, sources = return_figures(
        pd.DataFrame({"sha256": ["sha"], "school_id": [SCHOOL]}),
        Scope(frames, date(2025, 10, 1), date(2025, 12, 31)),
        letters,
    )
    awards = sources[sources["indicator"] == "I18"]
    assert list(awards["cell"]) == [""] and list(awards["value"]) == [EMPTY_SHEET]
