"""The whole path on one municipality: templates → fake returns → inbox → checks → warehouse → summaries.

Figures are recomputed here in plain Python from the archived files, read with openpyxl (not with svod's
parser), and every lineage cell is re-read from the archive.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from contracts.catalogue import load_catalogue
from pipeline.cli import app
from pipeline.config import Workspace
from pipeline.reference import load_reference
from pipeline.store import queries, warehouse
from pipeline.xlsx.school_layout import CODE_ROW, FIRST_DATA_ROW, IDENTITY_SHEET

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
    return next(p for p in ws.archive.glob(f"{sha[:2]}/{sha}.*") if p.suffix != ".json")


def current(ws: Workspace) -> dict[str, str]:
    with warehouse.connect(ws.database, read_only=True) as con:
        return dict(
            con.execute(
                "SELECT school_id, sha256 FROM current_submission WHERE municipality = ?", [MUNI]
            ).fetchall()
        )


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

    from pipeline.intake.inbox import ARRIVALS_LOG

    stored = list(published.archive.glob("??/*"))
    assert stored
    lines = (published.archive / ARRIVALS_LOG).read_text(encoding="utf-8").splitlines()
    arrivals = {record["sha256"]: record for record in map(json.loads, lines)}
    for path in stored:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert sha == path.name.split(".")[0]
        assert (
            arrivals[sha]["original_name"] and arrivals[sha]["received_at"]
        )  # when and under which name it came


def test_school_figures_equal_a_plain_recomputation(published):
    period = load_reference().municipalities[MUNI].period(PERIOD)
    wb = openpyxl.load_workbook(summary_path(published), data_only=True)
    ws = wb["Показатели по ОО"]
    header = [str(c.value or "").split(" ")[0] for c in ws[1]]
    shown = {
        ws.cell(r, 1).value: {header[c - 1]: ws.cell(r, c).value for c in range(3, ws.max_column + 1)}
        for r in range(2, ws.max_row + 1)
        if ws.cell(r, 1).value
    }
    totals = {"I06": 0, "I03n": 0, "I03d": 0}
    for school, sha in current(published).items():
        path = archived(published, sha)
        pairs = rows_of(path, "pairs")
        active = {
            p["pair_group_id"]
            for p in pairs
            if p["start_date"].date() <= period.end
            and (p["actual_end_date"] is None or p["actual_end_date"].date() >= period.start)
        }
        assert shown[school]["I06"] == len(active)
        young = {
            m["mentee_id"]
            for m in rows_of(path, "mentees")
            if m["mentee_category"] == "молодой специалист (стаж 0–3 года)"
        }
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


def test_every_published_figure_is_reproduced_from_its_lineage(published):
    """Re-read each figure's source cells from the archived files (the intake journal's versions from the
    warehouse) and recompute numerator and denominator, whatever the indicator's kind."""
    import re
    from collections import Counter
    from math import prod

    from pipeline.domain.figures import FigureId
    from pipeline.domain.indicators import BY_CODE, INTAKE

    books: dict[str, openpyxl.Workbook] = {}
    titles = {sh.code: sh.title for sh in load_catalogue().sheets}
    with warehouse.connect(published.database, read_only=True) as con:
        figures = con.execute(
            "SELECT figure_id, indicator, numerator, denominator FROM figure "
            "WHERE run_id IN (SELECT run_id FROM published_run)"
        ).fetchall()
        sources = con.execute(
            "SELECT figure_id, part, sha256, sheet, cell, value FROM figure_source "
            "WHERE figure_id IN (SELECT figure_id FROM figure WHERE run_id IN (SELECT run_id FROM published_run))"
        ).fetchall()
        versions = {
            (r[0], r[1])
            for r in con.execute(
                "SELECT r.sha256, v.version FROM submission r JOIN submission v "
                "ON v.school_id = r.school_id AND v.period = r.period"
            ).fetchall()
        }
    by_figure: dict[str, list] = {}
    for fid, part, sha, sheet, cell, value in sources:
        if sheet == INTAKE:
            assert (sha, int(value)) in versions and cell == f"версия {value}", (fid, cell, value)
            reread = value
        else:
            if sha not in books:
                books[sha] = openpyxl.load_workbook(archived(published, sha), data_only=True)
            raw = books[sha][titles[sheet]][cell].value if cell else None
            reread = (
                ""
                if raw is None
                else str(int(raw))
                if isinstance(raw, float) and raw.is_integer()
                else str(raw)
            )
            if value != "(на листе нет строк)":
                same_number = (
                    isinstance(raw, int | float)
                    and value.replace(".", "", 1).isdigit()
                    and float(value) == raw
                )
                assert reread == value or str(raw) == value or same_number, (fid, sheet, cell, raw, value)
        row = re.sub(r"\D", "", cell)
        by_figure.setdefault(fid, []).append((part, sha, (sheet, row), reread))
    assert len(figures) > 100
    registry = len(load_reference().municipalities[MUNI].schools)
    for fid, code, numerator, denominator in figures:
        ind, parts, level = BY_CODE[code], by_figure[fid], FigureId.parse(fid).level
        counted = [(sha, at, v) for p, sha, at, v in parts if p == "numerator"]
        if ind.per_school:
            assert numerator == len({sha for sha, _, _ in counted}), fid
            assert denominator == (registry if ind.registry else len({sha for _, sha, _, _ in parts})), fid
            continue
        if ind.sums:
            by_row: dict = {}
            for sha, at, v in counted:
                by_row.setdefault((sha, at), []).append(float(v or 0))
            expected = sum(prod(values) for values in by_row.values())
        elif ind.largest:
            expected = max(Counter((sha, v) for sha, _, v in counted).values(), default=0)
        elif ind.counts_rows:
            expected = len({(sha, at) for sha, at, _ in counted})
        else:
            expected = len({(sha, v) for sha, _, v in counted})
        if ind.shared and level.value != "school":
            assert numerator <= expected, fid  # what ОО share counts once (test_indicators_property)
        else:
            assert numerator == pytest.approx(expected), fid
        base = [(sha, at, v) for p, sha, at, v in parts if p == "denominator"]
        if ind.profile_denominator:
            assert (denominator or 0) == sum(float(v) for _, _, v in base if v != ""), fid
        elif ind.denominator and ind.denominator.sums:
            assert denominator == pytest.approx(sum(float(v or 0) for _, _, v in base)), fid
        elif ind.denominator:
            assert denominator == len({(sha, v) for sha, _, v in base}), fid
        else:
            assert denominator is None


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
    municipal = " ".join(
        str(c.value)
        for ws in openpyxl.load_workbook(summary_path(published))
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    )
    assert "Канареечкина" not in municipal  # names never enter summaries, only IDs and counts


def test_same_bytes_again_is_a_no_op(published):
    sha = next(iter(current(published).values()))
    src = archived(published, sha)
    shutil.copy(src, published.inbox / "повтор.xlsx")
    with warehouse.connect(published.database) as con:
        before = con.execute("SELECT count(*) FROM submission").fetchone()[0]
        from pipeline.intake.steps import receive_inbox

        taken = receive_inbox(published, con, settle_seconds=0)
        after = con.execute("SELECT count(*) FROM submission").fetchone()[0]
    assert taken[0]["duplicate"] and before == after


def test_svod_check_exit_codes_and_russian_messages(published, tmp_path):
    template = next((published.templates / MUNI / PERIOD).glob("*.xlsx"))
    from samples.fake_school import fill, make_mistake, school_data

    data = school_data(template, 3, "small", date(2025, 11, 1))
    good = fill(template, tmp_path / "good.xlsx", data)
    make_mistake(data, "bad_date")
    bad = fill(template, tmp_path / "bad.xlsx", data)
    runner = CliRunner()
    ok = runner.invoke(
        app, ["check", str(good), "--out", str(tmp_path / "fb"), "--home", str(published.home)]
    )
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(
        app, ["check", str(bad), "--out", str(tmp_path / "fb"), "--home", str(published.home)]
    )
    assert res.exit_code == 2
    assert "Наставнические пары и группы!" in res.output and "не распознано как дата" in res.output
    assert "C05" not in res.output  # staff and schools read words, not rule codes
    annotated = next((tmp_path / "fb").rglob("bad_*_проверка.xlsx"))
    wb = openpyxl.load_workbook(annotated)
    assert wb.sheetnames[0] == "Ошибки"
    flagged = [
        i for i in wb["Ошибки"].iter_rows(min_row=2, values_only=True) if "не распознано как дата" in i[3]
    ]
    sheet, cell = flagged[0][:2]
    note = wb[sheet][cell].comment.text
    assert "не распознано как дата" in note and "C05" not in note
    assert wb[sheet][cell].value == "31.02.2025"  # the school's value is untouched
    assert IDENTITY_SHEET in wb.sheetnames


def test_rebuild_from_the_archive_gives_the_same_warehouse(published):
    from pipeline.rebuild import rebuild

    with warehouse.connect(published.database, read_only=True) as con:
        live = queries.content_hash(con)
    answers = {p: p.stat().st_mtime_ns for p in published.outbox.rglob("*") if p.is_file()}
    assert rebuild(published, published.home / "rebuilt.duckdb") == live
    assert {
        p: p.stat().st_mtime_ns for p in published.outbox.rglob("*") if p.is_file()
    } == answers  # schools untouched


def test_rebuild_reads_the_arrivals_log_and_older_per_file_records(ws):
    """Archives from before the arrivals log kept a JSON beside each file; both are read, earliest arrival wins."""
    from datetime import datetime

    from pipeline.intake.inbox import ARRIVALS_LOG, archive_file, log_arrivals
    from pipeline.intake.records import Received
    from pipeline.rebuild import archived_files

    old, new = archive_file(ws, b"old bytes", "old.xlsx"), archive_file(ws, b"new bytes", "new.xlsx")
    old.with_suffix(".json").write_text(
        json.dumps({"original_name": "old.xlsx", "received_at": "2025-12-01T09:00:00"})
    )
    log_arrivals(
        ws,
        [
            Received(new, "new.xlsx", datetime(2025, 12, 2, 9), (None, None, None)),
            Received(new, "new (копия).xlsx", datetime(2025, 12, 3, 9), (None, None, None)),
        ],
    )
    assert (ws.archive / ARRIVALS_LOG).read_text(encoding="utf-8").count("\n") == 2
    assert [(at, path, name) for at, _, path, name in archived_files(ws)] == [
        (datetime(2025, 12, 1, 9), old, "old.xlsx"),
        (datetime(2025, 12, 2, 9), new, "new.xlsx"),
    ]


def test_a_past_run_is_reissued_byte_for_byte(published, tmp_path):
    from pipeline.xlsx.summary_layout import HISTORY

    history = sorted((published.out / MUNI / HISTORY).glob("*.xlsx"))
    assert len(history) >= 2  # the first consolidation and the one after corrected returns came in
    first = history[0] if history[0].stat().st_mtime <= history[-1].stat().st_mtime else history[-1]
    run_id = first.stem.rsplit("_", 1)[1]
    assert (published.journal / f"{run_id}.json").exists()
    result = CliRunner().invoke(
        app, ["reissue", "--run", run_id, "--out", str(tmp_path), "--home", str(published.home)]
    )
    assert result.exit_code == 0, result.output
    again = next((tmp_path / MUNI / HISTORY).glob(f"*_{run_id}.xlsx"))
    assert again.read_bytes() == first.read_bytes()
