"""Checks of filled returns: each curator mistake yields its rule at the right cell, a clean return passes."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime

import openpyxl
import pytest

from contracts.catalogue import load_catalogue
from pipeline.xlsx.school_layout import CODE_ROW
from samples.fake_school import MISTAKES
from tests.support import check_return

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
PLACES = {
    "bad_date": ("pairs", "start_date", 3),
    "unknown_mentor": ("pairs", "mentor_id", 3),
    "enum_typo": ("pairs", "status", 3),
    "missing_required": ("mentors", "full_name", 3),
    "not_confirmed": ("meta", "director_confirmed", 3),
    "profile_overflow": ("school_profile", "young_specialists_0_3", 3),
}


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


def test_workbook_saved_with_the_1904_date_system(make_return, ws, tmp_path):
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    path = make_return()
    wb = openpyxl.load_workbook(path)
    wb.epoch = CALENDAR_MAC_1904
    mac = tmp_path / "mac.xlsx"
    wb.save(mac)
    assert b'date1904="1"' in __import__("zipfile").ZipFile(mac).read("xl/workbook.xml")
    ours = check_return(path, ws, RECEIVED).book.sheets["pairs"].frame["start_date"]
    theirs = check_return(mac, ws, RECEIVED)
    assert theirs.verdict == "accepted"
    assert list(theirs.book.sheets["pairs"].frame["start_date"]) == list(ours)


def test_a_batch_with_broken_files_processes_every_good_one(template, ws, tmp_path):
    from datetime import date

    from pipeline.intake.routing import UNIDENTIFIED
    from pipeline.intake.steps import process_pending, receive_inbox
    from pipeline.store import warehouse
    from samples.fake_school import fill, school_data

    for seed in (1, 2, 3):
        fill(
            template, ws.inbox / f"good_{seed}.xlsx", school_data(template, seed, "small", date(2025, 12, 20))
        )
    good = (ws.inbox / "good_1.xlsx").read_bytes()
    (ws.inbox / "cut.xlsx").write_bytes(good[: len(good) // 3])
    (ws.inbox / "old.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000))
    (ws.inbox / "noise.xlsx").write_bytes(bytes(range(256)) * 50)
    (ws.inbox / "page.xlsx").write_text("<html><body>отчёт</body></html>", encoding="utf-8")
    (ws.inbox / "~$good_1.xlsx").write_bytes(b"owner lock")
    (ws.inbox / "upload.xlsx.part").write_bytes(good[:100])
    with warehouse.connect(ws.database) as con:
        broken = receive_inbox(ws, con, 0, only=UNIDENTIFIED)
        taken = receive_inbox(ws, con, 0, only=("arkhangelsk", "2025-Q4"))
        results = process_pending(ws, con, "arkhangelsk", "2025-Q4")
        verdicts = dict(
            con.execute(
                "SELECT r.original_name, s.verdict FROM submission s JOIN received_file r USING (sha256)"
            ).fetchall()
        )
    assert {t["name"] for t in broken} == {"cut.xlsx", "old.xlsx", "noise.xlsx", "page.xlsx"}
    assert len(taken) == 3 and len(results) == 3
    assert all(verdicts[f"good_{s}.xlsx"] != "rejected" for s in (1, 2, 3))
    assert all(verdicts[n] == "rejected" for n in ("cut.xlsx", "old.xlsx", "noise.xlsx", "page.xlsx"))
    assert sorted(p.name for p in ws.inbox.iterdir()) == ["upload.xlsx.part", "~$good_1.xlsx"]
    assert len(list((ws.outbox / "_не_опознаны").glob("*_квитанция.txt"))) == 4


def test_moved_header_and_reordered_columns_still_read(make_return, ws, tmp_path):
    from contracts.catalogue import load_catalogue

    path = make_return()
    wb = openpyxl.load_workbook(path)
    mentors = wb[load_catalogue().sheet("mentors").title]
    mentors.insert_rows(1, amount=2)  # a curator added a heading above the table
    mentors.move_range("B1:B40", cols=20)  # and dragged «ФИО» to the far right
    moved = tmp_path / "moved.xlsx"
    wb.save(moved)
    before = check_return(path, ws, RECEIVED).book.sheets["mentors"]
    after = check_return(moved, ws, RECEIVED)
    frame = after.book.sheets["mentors"].frame
    assert after.verdict == "accepted", [(i.rule, i.where) for i in after.issues]
    assert list(frame["full_name"]) == list(before.frame["full_name"])
    assert list(frame.index) == [r + 2 for r in before.frame.index]
    assert after.book.sheets["mentors"].letters["full_name"] == "V"


def _rewritten(path, tmp_path, edit):
    """A copy of the workbook with `edit(name, xml)` applied to every part."""
    out = tmp_path / f"rewritten_{path.name}"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edit(info.filename, src.read(info)))
    return out


def _values(book) -> dict:
    return {code: (s.letters, s.rows, s.values) for code, s in book.sheets.items()}


def test_sheets_listed_in_another_attribute_order_read_the_same(make_return, tmp_path):
    """Other writers order attributes and quote them differently; the sheet parts are found all the same."""
    from pipeline.xlsx.container import value_parts
    from pipeline.xlsx.reader import read_workbook

    path = make_return()

    def flipped(tag: re.Match) -> bytes:  # attributes in reverse order, single-quoted, one a line
        name = tag[1]
        pairs = re.findall(rb'([\w:]+)="([^"]*)"', tag[0])
        return b"<" + name + b" " + b"\n ".join(k + b"='" + v + b"'" for k, v in reversed(pairs)) + b"/>"

    def reorder(name: str, xml: bytes) -> bytes:
        if name == "xl/workbook.xml":
            return re.sub(rb"<(sheet)\b[^>]*/>", flipped, xml)
        if name == "xl/_rels/workbook.xml.rels":
            return re.sub(rb"<(Relationship)\b[^>]*/>", flipped, xml)
        return xml

    rewritten = _rewritten(path, tmp_path, reorder)
    with zipfile.ZipFile(rewritten) as z:
        assert b"<sheet r:id='rId5'" in z.read("xl/workbook.xml")
    titles = {s.title for s in load_catalogue().sheets}
    _, facts = value_parts(rewritten.read_bytes(), titles)
    assert set(facts) == titles  # found and re-packed, not left to the fallback that reads the original
    assert _values(read_workbook(rewritten)) == _values(read_workbook(path))


def test_a_sheet_part_not_repacked_is_read_from_the_original(make_return, monkeypatch):
    """Values are read from the parts re-packed after their CRC check; a sheet whose part was not found that way
    is still read, from the file as received."""
    from pipeline.xlsx import container, reader

    path = make_return()
    whole = _values(reader.read_workbook(path))
    mentors = load_catalogue().sheet("mentors").title
    value_parts = container.value_parts
    monkeypatch.setattr(reader, "value_parts", lambda data, titles: value_parts(data, titles - {mentors}))
    assert _values(reader.read_workbook(path)) == whole
