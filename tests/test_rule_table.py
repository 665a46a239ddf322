"""Every rule of the catalogue, once failing and once passing.

Each row makes one realistic mistake in a return built by the real template writer and the fake school, then
expects the rule's code at the cell where the mistake was made (located independently through the code row),
with a Russian message. The passing half: the clean return raises no rule at all.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest

from contracts.catalogue import load_catalogue
from pipeline.xlsx.school_layout import CODE_ROW, IDENTITY_SHEET
from samples.reliability import resigned
from tests.support import check_return

CABINET_RULES = {"U01", "U02"}  # an upload for another school or period: tests/test_cabinet.py

RECEIVED = datetime(2025, 12, 21, 10, 0)


def _set(sheet, k, column, value):
    def edit(data):
        data[sheet][k][column] = value

    return edit


def _same(sheet, column, src, dst):
    def edit(data):
        data[sheet][dst][column] = data[sheet][src][column]

    return edit


def _due_roadmap_row(data) -> int:
    return next(
        k for k, r in enumerate(data["roadmap_status"]) if r.get("status") in ("выполнено", "в работе")
    )


def _x13(data):
    data["roadmap_status"][_due_roadmap_row(data)]["status"] = "не требуется в отчётном периоде"


def _x07(data):
    for k in (1, 2):
        data["pairs"][k]["mentor_id"] = data["pairs"][0]["mentor_id"]


def _x10(data):
    data["programmes"][0]["status"] = "утверждена, не начата"


def _x12(data):
    data["best_practices"][0]["description"] = (
        f"Опыт: {data['mentees'][0]['full_name']} провела открытый урок."
    )


def _x03(data):
    data["pairs"][0]["form"] = "ученик – ученик"


def _c02(data):
    data["pairs"][0]["status"] = "завершена"
    data["pairs"][0]["result"] = "цели достигнуты"


# rule -> (edit of the rows, (sheet, column, index of the data row) or None for file-level rules)
DATA_RULES = {
    "M06": (_set("meta", 0, "school_id", "ARH-005"), ("meta", "school_id", 0)),
    "M09": (_set("meta", 0, "director_confirmed", "нет"), ("meta", "director_confirmed", 0)),
    "M10": (_set("meta", 0, "submission_date", date(2030, 1, 1)), ("meta", "submission_date", 0)),
    "C01": (_set("mentors", 0, "full_name", None), ("mentors", "full_name", 0)),
    "C02": (_c02, ("pairs", "actual_end_date", 0)),
    "C03": (_set("school_profile", 0, "ped_staff_total", "много"), ("school_profile", "ped_staff_total", 0)),
    "C04": (_set("mentors", 0, "ped_experience_years", "пять"), ("mentors", "ped_experience_years", 0)),
    "C05": (_set("pairs", 0, "start_date", "31.02.2025"), ("pairs", "start_date", 0)),
    "C06": (_set("pairs", 0, "status", "действуют"), ("pairs", "status", 0)),
    "C07": (_set("mentees", 0, "ped_experience_years", 75), ("mentees", "ped_experience_years", 0)),
    "C08": (_set("programmes", 0, "programme_id", "PG-1"), ("programmes", "programme_id", 0)),
    "C09": (
        _set("school_profile", 0, "site_section_url", "школа.рф/наставники"),
        ("school_profile", "site_section_url", 0),
    ),
    "C10": (
        _set("best_practices", 0, "description", "Очень подробно. " * 80),
        ("best_practices", "description", 0),
    ),
    "C11": (_set("pairs", 0, "planned_end_date", date(2020, 1, 1)), ("pairs", "planned_end_date", 0)),
    "C12": (_set("mentees", 0, "pd_consent", "нет"), ("mentees", "pd_consent", 0)),
    "X01": (_same("mentors", "mentor_id", 0, 1), ("mentors", "mentor_id", 1)),
    "X02": (_set("pairs", 0, "mentor_id", "MR-9999"), ("pairs", "mentor_id", 0)),
    "X03": (_x03, ("pairs", "form", 0)),
    "X04": (_set("events", 0, "date_start", date(2024, 1, 10)), ("events", "date_start", 0)),
    "X05": (_set("mentors", 0, "status", "резерв"), ("mentors", "status", 0)),
    "X06": (
        _set("school_profile", 0, "young_specialists_0_3", 0),
        ("school_profile", "young_specialists_0_3", 0),
    ),
    "X07": (_x07, ("pairs", "mentor_id", 0)),
    "X08": (_set("mentees", 0, "pd_consent", "нет"), ("pairs", "mentee_id", 0)),
    "X08a": (
        _set("mentors", 0, "written_consent_mentoring", "нет"),
        ("mentors", "written_consent_mentoring", 0),
    ),
    "X09": (_same("pairs", "pair_group_id", 0, 1), ("pairs", "pair_group_id", 1)),
    "X10": (_x10, ("pairs", "programme_id", 0)),
    "X11": (_set("survey_summary", 0, "n_respondents", 999), ("survey_summary", "n_respondents", 0)),
    "X12": (_x12, ("best_practices", "description", 0)),
    "X13": (_x13, ("roadmap_status", "status", None)),
}


def cell_of(path, sheet_code: str, column: str, row: int) -> str:
    ws = openpyxl.load_workbook(path)[load_catalogue().sheet(sheet_code).title]
    letter = next(
        ws.cell(CODE_ROW, c).column_letter
        for c in range(1, ws.max_column + 1)
        if ws.cell(CODE_ROW, c).value == column
    )
    return f"{letter}{row}"


def russian(text: str) -> bool:
    return any("а" <= ch <= "я" for ch in text.lower())


@pytest.fixture(scope="module")
def clean(template, tmp_path_factory):
    from pipeline.config import Workspace
    from samples.fake_school import fill, school_data

    ws = Workspace.resolve(tmp_path_factory.mktemp("clean") / "home")
    path = fill(
        template,
        tmp_path_factory.mktemp("clean_return") / "clean.xlsx",
        school_data(template, 7, "medium", date(2025, 12, 20)),
    )
    return path, check_return(path, ws, RECEIVED)


def test_a_clean_return_raises_no_rule(clean):
    _, result = clean
    assert result.verdict == "accepted" and result.issues == [], [(i.rule, i.where) for i in result.issues]


@pytest.mark.parametrize("rule", sorted(DATA_RULES))
def test_rule_fails_at_the_right_cell(make_return, ws, rule):
    edit, (sheet, column, k) = DATA_RULES[rule]
    holder = {}

    def capture(data):
        holder["k"] = _due_roadmap_row(data) if k is None else k
        edit(data)

    path = make_return(edit=capture)
    result = check_return(path, ws, RECEIVED)
    hits = [i for i in result.issues if i.rule == rule]
    assert hits, [(i.rule, i.where) for i in result.issues]
    expected = cell_of(path, sheet, column, 3 + holder["k"])
    assert any(i.sheet == sheet and i.cell == expected for i in hits), [(i.sheet, i.cell) for i in hits]
    assert all(russian(i.message) and russian(i.fix) for i in hits)


# --- rules about the file and its identity ----------------------------------------------------------------


def _rezip(path, change):
    data = path.read_bytes()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, change(info.filename, src.read(info.filename)))
        for name, payload in change.extra.items() if hasattr(change, "extra") else []:
            z.writestr(name, payload)
    path.write_bytes(out.getvalue())


def _with_parts(**extra):
    def change(name, payload):
        return payload

    change.extra = {k.replace("__", "/").replace("_dot_", "."): v for k, v in extra.items()}
    return change


def _strict(name, payload):
    return (
        payload.replace(
            b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
            b"http://purl.oclc.org/ooxml/spreadsheetml/main",
        )
        if name == "xl/workbook.xml"
        else payload
    )


def _resign(path, **changes):
    wb = openpyxl.load_workbook(path)
    resigned(**changes)(wb)
    wb.save(path)


def _drop_sheet(title):
    def edit(path):
        wb = openpyxl.load_workbook(path)
        del wb[title]
        wb.save(path)

    return edit


def _drop_column(path):
    wb = openpyxl.load_workbook(path)
    ws = wb[load_catalogue().sheet("awards").title]
    ws.delete_cols(4)
    wb.save(path)


FILE_RULES = {
    "F01": lambda p: p.write_bytes(p.read_bytes()[:3000]),
    "F02": lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000),
    "F03": lambda p: p.write_bytes(_ods()),
    "F04": lambda p: _rezip(p, _with_parts(xl__vbaProject_dot_bin=b"\x00\x01")),
    "F05": lambda p: _rezip(p, _strict),
    "F06": lambda p: _rezip(p, _with_parts(xl__externalLinks__externalLink1_dot_xml=b"<externalLink/>")),
    "F07": lambda p: _rezip(
        p, _with_parts(xl__media__padding_dot_xml=b"<a>" + b"0" * (40 * 1024 * 1024) + b"</a>")
    ),
    "F08": lambda p: p.write_bytes("Код ОО;Наставников\nARH-001;12\n".encode("cp1251")),
    "M01": _drop_sheet(IDENTITY_SHEET),
    "M02": lambda p: _edit_identity_unsigned(p),
    "M03": lambda p: _resign(p, template_version="2024.1"),
    "M04": lambda p: _resign(p, school_id="ARH-999"),
    "M05": lambda p: _resign(p, period="2030-Q1"),
    "M07": _drop_sheet(load_catalogue().sheet("awards").title),
    "M08": _drop_column,
}


def _ods() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def _edit_identity_unsigned(path):
    wb = openpyxl.load_workbook(path)
    for row in wb[IDENTITY_SHEET].iter_rows():
        if row[0].value == "period":
            row[1].value = "2025-Q3"
    wb.save(path)


@pytest.mark.parametrize("rule", sorted(FILE_RULES))
def test_file_and_identity_rules(make_return, ws, rule):
    path = make_return()
    FILE_RULES[rule](path)
    result = check_return(path, ws, RECEIVED)
    hits = [i for i in result.issues if i.rule == rule]
    assert hits and result.verdict == "rejected", [(i.rule, i.message) for i in result.issues]
    assert all(russian(i.message) and russian(i.fix) for i in hits)


def _layout(edit):
    """Apply an openpyxl edit to the filled return, as an office suite would save it."""

    def apply(path):
        wb = openpyxl.load_workbook(path)
        edit(wb)
        wb.save(path)

    return apply


def _title(code):
    return load_catalogue().sheet(code).title


# rule -> (edit of the saved workbook, (sheet, expected cell))
LAYOUT_RULES = {
    "C13": (lambda wb: setattr(wb[_title("mentors")].row_dimensions[4], "hidden", True), ("mentors", "A4")),
    "C14": (
        lambda wb: wb[_title("school_profile")]["E3"].__setattr__("value", "=10+5"),
        ("school_profile", "E3"),
    ),
    "C15": (lambda wb: wb[_title("pairs")].merge_cells("E3:E4"), ("pairs", "E3")),
    "C16": (
        lambda wb: [
            wb[_title("events")]["A10"].__setattr__("value", "Итого"),
            wb[_title("events")]["J10"].__setattr__("value", 5),
        ],
        ("events", "A10"),
    ),
}


@pytest.mark.parametrize("rule", sorted(LAYOUT_RULES))
def test_layout_rules(make_return, ws, rule):
    edit, (sheet, cell) = LAYOUT_RULES[rule]
    path = make_return()
    _layout(edit)(path)
    result = check_return(path, ws, RECEIVED)
    hits = [i for i in result.issues if i.rule == rule]
    assert [(i.sheet, i.cell) for i in hits] == [(sheet, cell)]
    assert russian(hits[0].message) and "…" not in hits[0].message


def test_late_return_x14(make_return, ws):
    result = check_return(make_return(), ws, datetime(2026, 3, 1, 9))
    assert [i.rule for i in result.issues] == ["X14"] and russian(result.issues[0].message)
    assert result.verdict == "accepted_with_warnings"  # late is a warning: the return still counts


def test_against_the_previous_period_x15_and_p01(make_return, ws):
    path = make_return()
    from pipeline.xlsx.reader import read_workbook

    now = read_workbook(path).sheets
    previous = {
        "mentors": pd.concat([now["mentors"].frame, pd.DataFrame([{"mentor_id": "MR-0999"}])]),
        "mentees": now["mentees"].frame.head(1),
        "programmes": pd.concat([now["programmes"].frame] * 2),
    }
    result = check_return(path, ws, RECEIVED, previous_for=lambda school, end: previous)
    rules = [i.rule for i in result.issues]
    assert rules.count("X15") == 2 and "MR-0999" in next(i.message for i in result.issues if i.rule == "X15")
    p01 = next(i for i in result.issues if i.rule == "P01")
    assert "было 1" in p01.message and "подтвердите или исправьте" in p01.message
    assert result.verdict == "accepted_with_warnings"


def test_the_table_covers_every_rule():
    covered = set(DATA_RULES) | set(FILE_RULES) | set(LAYOUT_RULES) | {"X14", "X15", "P01"} | CABINET_RULES
    assert covered == set(load_catalogue().rules)
