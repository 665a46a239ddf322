"""The whole path on one municipality: templates → fake returns → inbox → checks → warehouse → summaries.

Figures are recomputed here in plain Python from the archived files, read with openpyxl (not with svod's
parser), and every lineage cell is re-read from the archive.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from contracts.catalogue import load_catalogue
from pipeline import lineage, warehouse
from pipeline.cli import app
from pipeline.config import Workspace
from pipeline.reference import load_reference
from pipeline.workbook import CODE_ROW, FIRST_DATA_ROW, IDENTITY_SHEET

from .conftest import E2E_MUNICIPALITY as MUNI
from .conftest import E2E_PERIOD as PERIOD


def rows_of(path: Path, sheet_code: str) -> list[dict]:
    ws = openpyxl.load_workbook(path, data_only=True)[load_catalogue().sheet(sheet_code).title]
    codes = [ws.cell(CODE_ROW, c).value for c in range(1, ws.max_column + 1)]
    out = []
    for r in range(FIRST_DATA_ROW, ws.max_row + 1):
        values = {codes[c - 1]: ws.cell(r, c).value for c in range(1, ws.max_column + 1)}
        if any(v not in (None, "") for v in values.values()):
            out.append(values)
    return out


def archived(ws: Workspace, sha: str) -> Path:
    return next(ws.archive.glob(f"{sha[:2]}/{sha}.*"))


def current(ws: Workspace) -> dict[str, str]:
    with warehouse.connect(ws.database, read_only=True) as con:
        return dict(con.execute("SELECT school_id, sha256 FROM current_submission WHERE municipality = ?", [MUNI]).fetchall())


def summary_path(ws: Workspace) -> Path:
    return ws.out / MUNI / f"svod_{MUNI}_{PERIOD}.xlsx"


def test_every_returned_file_gets_feedback(published):
    with warehouse.connect(published.database, read_only=True) as con:
        received = con.execute("SELECT s.sha256, s.school_id, s.verdict FROM submission s").fetchall()
    assert len(received) >= len(load_reference().municipalities[MUNI].schools)
    for sha, school, verdict in received:
        assert verdict != "pending"
        folder = published.outbox / (school or "_не_опознаны")
        assert list(folder.glob(f"*_{sha[:8]}_квитанция.txt")), (school, sha)
    assert list((published.outbox / "_не_опознаны").glob("*квитанция.txt"))  # the renamed CSV


def test_archive_keeps_every_file_byte_for_byte(published):
    import hashlib

    for path in published.archive.rglob("*.*"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name.split(".")[0]


def test_school_figures_equal_a_plain_recomputation(published):
    period = load_reference().municipalities[MUNI].period(PERIOD)
    wb = openpyxl.load_workbook(summary_path(published), data_only=True)
    ws = wb["Показатели по ОО"]
    header = [str(c.value or "").split(" ")[0] for c in ws[1]]
    shown = {ws.cell(r, 1).value: {header[c - 1]: ws.cell(r, c).value for c in range(3, ws.max_column + 1)}
             for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value}
    totals = {"I06": 0, "I03n": 0, "I03d": 0}
    for school, sha in current(published).items():
        path = archived(published, sha)
        pairs = rows_of(path, "pairs")
        active = {p["pair_group_id"] for p in pairs
                  if p["start_date"].date() <= period.end and (p["actual_end_date"] is None or p["actual_end_date"].date() >= period.start)}
        assert shown[school]["I06"] == len(active)
        young = {m["mentee_id"] for m in rows_of(path, "mentees") if m["mentee_category"] == "молодой специалист (стаж 0–3 года)"}
        in_pairs = young & {p["mentee_id"] for p in pairs if p["pair_group_id"] in active}
        base = rows_of(path, "school_profile")[0]["young_specialists_0_3"]
        assert shown[school]["I03"] == pytest.approx(round(100 * len(in_pairs) / base, 1))
        totals["I06"] += len(active)
        totals["I03n"] += len(in_pairs)
        totals["I03d"] += base
    total_row = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 2).value).startswith("ИТОГО"))
    values = {header[c - 1]: ws.cell(total_row, c).value for c in range(3, ws.max_column + 1)}
    assert values["I06"] == totals["I06"]
    assert values["I03"] == pytest.approx(round(100 * totals["I03n"] / totals["I03d"], 1))  # Σnum/Σden


def test_lineage_cells_reproduce_the_figure(published):
    path = summary_path(published)
    ws = openpyxl.load_workbook(path)["Показатели по ОО"]
    checked = 0
    for r in range(2, ws.max_row + 1):
        for c in range(3, ws.max_column + 1):
            answer = lineage.explain(path, f"Показатели по ОО!{ws.cell(r, c).coordinate}", published.database)
            numerator = [s for s in answer["sources"] if s["part"] == "числитель"]
            if answer["indicator"] in ("I06", "I13", "I19"):
                assert len({(s["sha256"], s["value"]) for s in numerator}) == answer["numerator"]
            for s in answer["sources"]:
                book = openpyxl.load_workbook(archived(published, s["sha256"]), read_only=False)
                value = book[s["sheet"]][s["cell"]].value
                shown = "" if value is None else (str(int(value)) if isinstance(value, float) and value.is_integer() else str(value))
                if s["value"] != "(лист пуст)":
                    assert shown == s["value"] or str(value) == s["value"], (answer["figure_id"], s)
                checked += 1
            if checked > 400:
                return
    assert checked


def test_regional_workbook_has_no_personal_data(published):
    ref = load_reference()
    region = ref.municipalities[MUNI].region
    path = next((published.out / "region").glob(f"svod_region_{region}_*.xlsx"))
    wb = openpyxl.load_workbook(path)
    text = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None)
    assert "Канареечкина" not in text
    for school in ref.municipalities[MUNI].schools:
        assert school.id not in text and school.name not in text
    assert "MR-" not in text and "ME-" not in text
    municipal = " ".join(str(c.value) for ws in openpyxl.load_workbook(summary_path(published)) for row in ws.iter_rows()
                         for c in row if c.value is not None)
    assert "Канареечкина" not in municipal  # names never enter summaries, only IDs and counts


def test_same_bytes_again_is_a_no_op(published):
    sha = next(iter(current(published).values()))
    src = archived(published, sha)
    shutil.copy(src, published.inbox / "повтор.xlsx")
    with warehouse.connect(published.database) as con:
        before = con.execute("SELECT count(*) FROM submission").fetchone()[0]
        from pipeline.intake import receive_inbox
        taken = receive_inbox(published, con, settle_seconds=0)
        after = con.execute("SELECT count(*) FROM submission").fetchone()[0]
    assert taken[0]["duplicate"] and before == after


def test_svod_check_exit_codes_and_russian_messages(published, tmp_path):
    template = next((published.templates / MUNI / PERIOD).glob("*.xlsx"))
    from pipeline.fake_school import fill, make_mistake, school_data
    data = school_data(template, 3, "small", date(2025, 11, 1))
    good = fill(template, tmp_path / "good.xlsx", data)
    make_mistake(data, "bad_date")
    bad = fill(template, tmp_path / "bad.xlsx", data)
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(good), "--out", str(tmp_path / "fb"), "--home", str(published.home)])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(app, ["check", str(bad), "--out", str(tmp_path / "fb"), "--home", str(published.home)])
    assert res.exit_code == 2
    assert "C05" in res.output and "Наставнические пары и группы!" in res.output and "не распознано как дата" in res.output
    annotated = next((tmp_path / "fb").rglob("bad_*_проверка.xlsx"))
    wb = openpyxl.load_workbook(annotated)
    assert wb.sheetnames[0] == "Ошибки"
    flagged = [i for i in wb["Ошибки"].iter_rows(min_row=2, values_only=True) if i[0] == "C05"]
    sheet, cell = flagged[0][2].split("!")
    assert wb[sheet][cell].comment is not None and "C05" in wb[sheet][cell].comment.text
    assert wb[sheet][cell].value == "31.02.2025"  # the school's value is untouched
    assert IDENTITY_SHEET in wb.sheetnames
