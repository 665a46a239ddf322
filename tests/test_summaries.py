"""Summary workbooks: equal to the warehouse, safe, stable, free of personal data above the municipality,
readable by LibreOffice, and consolidated across tiers."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import zipfile

import openpyxl
import pytest

from pipeline.assets.partitions import partition_key
from pipeline.assets.resources import SvodWorkspace
from pipeline.config import Workspace
from pipeline.domain.figures import Unit
from pipeline.domain.indicators import (
    BREAKDOWNS,
    BY_CODE,
    EMPTY_SHEET,
    HEADLINES,
    INDICATORS,
    PART_RU,
    SHEET_TITLES,
)
from pipeline.domain.suppression import FEW_PEOPLE, HIDDEN_PART, suppress
from pipeline.in_process import consolidate, instance, materialize
from pipeline.intake.upstream import ingest_municipal_summaries
from pipeline.publish.compute import cell_ranges
from pipeline.publish.lineage import figure_id_at
from pipeline.publish.municipal import publish
from pipeline.reference import load_reference
from pipeline.store import warehouse
from pipeline.xlsx.book import NUMBER_FORMATS, Book
from pipeline.xlsx.summary_layout import INDICATOR_COLUMNS_PER_PAGE, LINEAGE_SHEET, TECHNICAL_SHEET
from samples import demo
from tests.support.office import convert

from .conftest import E2E_MUNICIPALITY as MUNI
from .conftest import E2E_PERIOD as PERIOD


def municipal(ws: Workspace):
    return ws.out / MUNI / f"svod_{MUNI}_{PERIOD}.xlsx"


def regional(ws: Workspace):
    region = load_reference().municipalities[MUNI].region
    return next((ws.out / "region").glob(f"svod_region_{region}_*.xlsx"))


def test_every_municipal_figure_equals_the_warehouse(published):
    path = municipal(published)
    ws = openpyxl.load_workbook(path)["Показатели по ОО"]
    with warehouse.connect(published.database, read_only=True) as con:
        values = {
            fid: (value, hidden)
            for fid, value, hidden in con.execute("SELECT figure_id, value, hidden FROM figure").fetchall()
        }
    seen = 0
    codes = [str(c.value).split(" ")[0] for c in ws[1]]
    for row in ws.iter_rows(min_row=2, min_col=3):
        for cell in row:
            if cell.value is None:  # a share over the registry or the files received: the municipality's only
                assert not BY_CODE[codes[cell.column - 1]].school_level, cell.coordinate
                continue
            figure = figure_id_at(path, f"Показатели по ОО!{cell.coordinate}").format()
            expected, hidden = values[figure]
            if hidden:  # a survey figure of too few respondents, or one that would reveal it (§4)
                assert cell.value == hidden, figure
                continue
            assert (cell.value == "—" and expected is None) or cell.value == pytest.approx(expected), figure
            seen += 1
    assert seen > 20


def test_cells_down_a_column_are_listed_as_ranges():
    assert (
        cell_ranges(["A3", "A4", "A5", "A7", "C7", "C8", "B9", "A10", "A11"])
        == "A3:A5, A7, C7:C8, B9, A10:A11"
    )
    assert (
        cell_ranges(["A9", "A10", "A8", "?3", "версия 2", "AB99", "AB100"])
        == "A9:A10, A8, ?3, версия 2, AB99:AB100"
    )
    assert cell_ranges([]) == ""


def _listed_sources(text: str) -> set[tuple[str, str, str]]:
    """(part, sheet title, cell) of a lineage row's «Источники», ranges expanded."""
    listed = set()
    for entry in text.split("; "):
        part, refs = entry.split(") ", 1)[1].split(": ", 1)
        sheet = None
        for ref in refs.split(", "):
            if ref.endswith(EMPTY_SHEET):
                listed.add((part, ref.removesuffix(" " + EMPTY_SHEET), ""))
                continue
            if "!" in ref:
                sheet, ref = ref.rsplit("!", 1)
            first, _, last = ref.partition(":")
            if not (cell := re.fullmatch(r"([A-Z]+)(\d+)", first)):
                # not an address: the intake journal's version
                listed.add((part, sheet, ref))
                continue
            column, start = cell.groups()
            end = int(last.removeprefix(column)) if last else int(start)
            listed |= {(part, sheet, f"{column}{row}") for row in range(int(start), end + 1)}
    return listed


def test_lineage_rows_list_exactly_the_warehouse_source_cells(published):
    """Every ОО figure's «Источники» on the lineage sheet, ranges expanded, names exactly the cells the warehouse
    keeps for it (part, sheet and cell)."""
    lineage = openpyxl.load_workbook(municipal(published))[LINEAGE_SHEET]
    rows = [
        (r[0].value, r[8].value)
        for r in lineage.iter_rows(min_row=2)
        if r[0].value and "|school|" in r[0].value
    ]
    assert len(rows) > 100
    with warehouse.connect(published.database, read_only=True) as con:
        for figure_id, text in rows:
            stored = {
                (PART_RU[part], SHEET_TITLES[sheet], cell)
                for part, sheet, cell in con.execute(
                    "SELECT part, sheet, cell FROM figure_source WHERE figure_id = ?", [figure_id]
                ).fetchall()
            }
            assert _listed_sources(text or "") == stored, figure_id


def test_regional_equals_municipal_totals_unless_suppressed(published):
    reg = openpyxl.load_workbook(regional(published))["Показатели по МО"]
    header = [str(c.value or "").split(" ")[0] for c in reg[3]]
    mrow = next(
        r for r in reg.iter_rows(min_row=4) if r[0].value == load_reference().municipalities[MUNI].name
    )
    total = next(r for r in reg.iter_rows(min_row=4) if r[0].value == "ИТОГО по региону")
    with warehouse.connect(published.database, read_only=True) as con:
        muni = dict(
            con.execute(
                "SELECT indicator, value FROM figure WHERE level = 'municipality' AND entity = ? "
                "AND run_id IN (SELECT run_id FROM published_run)",
                [MUNI],
            ).fetchall()
        )
    for i, code in enumerate(header):
        if code not in muni:
            continue
        shown, in_total = mrow[i].value, total[i].value
        if shown == "< 5":
            assert in_total == "< 5"  # a single municipality: the total would reveal the hidden cell
            continue
        expected = muni[code]
        assert (shown == "—" and expected is None) or shown == pytest.approx(expected), code
        assert in_total == shown  # Σ over one municipality


def test_small_counts_and_their_complements_are_hidden():
    from pipeline.domain.figures import aggregate
    from pipeline.domain.vocabulary import Level

    parts = [
        BY_CODE[code].figure(Level.MUNICIPALITY, m, "p", n, 10)
        for code, numbers in (("I03", (3, 40, 12)), ("I06", (2, 2, 2)))
        for m, n in zip("abc", numbers, strict=True)
    ]
    totals = [
        aggregate([f for f in parts if f.indicator == code], Level.REGION, "r", "p")
        for code in ("I03", "I06")
    ]
    hidden = {(f.indicator, f.entity): f.hidden for f in suppress(parts + totals, Level.REGION) if f.hidden}
    assert hidden == {
        ("I03", "a"): FEW_PEOPLE,
        ("I03", "c"): HIDDEN_PART,
    }  # pairs are not people; b and the total shown
    # for the municipality's own readers, people are not hidden
    assert not any(f.hidden for f in suppress(parts + totals, Level.MUNICIPALITY))


def test_no_formulas_or_external_links_in_any_output(published):
    books = [*published.out.rglob("*.xlsx"), *published.outbox.rglob("*_проверка.xlsx")][:30]
    for path in books:
        wb = openpyxl.load_workbook(path)
        for ws in wb:
            for row in ws.iter_rows():
                for cell in row:
                    if path.is_relative_to(published.out):
                        assert cell.data_type != "f", (path.name, ws.title, cell.coordinate)
                    if cell.hyperlink is not None:
                        target = cell.hyperlink.location or cell.hyperlink.target or ""
                        assert "://" not in target, (path.name, cell.coordinate, target)


def test_formula_looking_text_is_written_inert(tmp_path):
    book = Book(tmp_path / "x.xlsx")
    ws = book.sheet("Лист")
    evil = '=HYPERLINK("http://example.com","жми")'
    book.text(ws, 0, 0, evil + "\x07")
    book.close()
    cell = openpyxl.load_workbook(tmp_path / "x.xlsx")["Лист"]["A1"]
    assert cell.data_type == "s" and cell.value == evil and cell.hyperlink is None
    assert cell.quotePrefix


@pytest.mark.parametrize("forked", [False, True])
def test_bulk_rows_read_back_as_the_same_cells(tmp_path, monkeypatch, forked):
    """Rows spliced into the sheet XML at close read back as `table` writes them: text as quoted text (control
    characters dropped, markup inert), whole numbers in the count format, blanks and NaN as empty cells; inline,
    or in the shared strings for the sheet worked out apart (here, or deflated by a forked child)."""
    from pipeline.xlsx import book as books

    monkeypatch.setattr(books, "spare_core", lambda: True)
    monkeypatch.setattr(books, "APART_FROM", 1 if forked else 10**9)
    book = Book(tmp_path / "x.xlsx")
    headed, bare, apart = book.sheet("С заголовком"), book.sheet("Без заголовка"), book.sheet("Отдельно")
    book.table(headed, 0, ["Текст", "Число", "Доля", "Пусто"], [])
    rows = [["<b>&amp;\x07", 12.0, 84.6, None], ["=1+1", 0, float("nan"), ""]]
    book.bulk_rows(apart, 0, rows * 3, apart=True)
    book.bulk_rows(headed, 1, rows)
    book.bulk_rows(bare, 0, rows)
    book.close()
    with zipfile.ZipFile(tmp_path / "x.xlsx") as archive:
        assert archive.testzip() is None
        assert archive.read("xl/sharedStrings.xml").count(b"<si>") == 2  # the apart sheet's two texts
    wb = openpyxl.load_workbook(tmp_path / "x.xlsx")
    assert [[c.value for c in row] for row in wb["Отдельно"].iter_rows(max_col=4)] == 3 * [
        ["<b>&amp;", 12, 84.6, None],
        ["=1+1", 0, None, None],
    ]
    for ws, first in ((wb["С заголовком"], 2), (wb["Без заголовка"], 1), (wb["Отдельно"], 1)):
        got = [[c.value for c in row] for row in ws.iter_rows(min_row=first, max_row=first + 1, max_col=4)]
        assert got == [["<b>&amp;", 12, 84.6, None], ["=1+1", 0, None, None]]
        assert ws.cell(first, 1).data_type == "s" and ws.cell(first, 1).quotePrefix
        assert ws.cell(first, 2).number_format == NUMBER_FORMATS[Unit.COUNT]
    assert wb["С заголовком"]["A1"].value == "Текст"


def test_summaries_are_byte_identical_for_the_same_inputs(published, tmp_path):
    with warehouse.connect(published.database) as con:
        a, run_a = publish(con, published.reference, tmp_path / "a", MUNI, PERIOD, published.key)
        b, run_b = publish(con, published.reference, tmp_path / "b", MUNI, PERIOD, published.key)
    assert run_a == run_b
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert a.read_bytes() == municipal(published).read_bytes()


def test_a_summary_worked_out_on_two_cores_is_the_one_of_one(published, tmp_path, monkeypatch):
    """Half the indicators evaluated and the lineage sheet written by forked children (as for a municipality of
    hundreds of ОО): the same figures, the same source cells and the same workbook bytes as one process gives."""
    from pipeline.publish import compute as computing
    from pipeline.publish.municipal import write_municipal
    from pipeline.xlsx import book

    database = tmp_path / "svod.duckdb"
    shutil.copy(published.database, database)
    runs = {}
    with warehouse.connect(database) as con:
        for cores, apart_from in ((2, 1), (1, 10**9)):
            for table in ("return_figure", "return_source"):  # every return evaluated anew, not read back
                con.execute(f"DELETE FROM {table}")
            monkeypatch.setattr(computing, "spare_core", lambda cores=cores: cores > 1)
            monkeypatch.setattr(computing, "EVALUATED_APART_FROM", apart_from)
            monkeypatch.setattr(book, "spare_core", lambda cores=cores: cores > 1)
            monkeypatch.setattr(book, "APART_FROM", apart_from)
            run = computing.compute(con, published.reference, MUNI, PERIOD)
            computing.store(con, published.reference, run)
            summary = write_municipal(
                con, published.reference, tmp_path / str(cores), run.run_id, published.key
            )
            runs[cores] = run, summary.read_bytes()
    (two, two_bytes), (one, one_bytes) = runs[2], runs[1]
    assert len(two.new_sources) and two.new_figures.equals(one.new_figures)
    assert two.new_sources.equals(one.new_sources) and two.figures.equals(one.figures)
    assert two_bytes == one_bytes == municipal(published).read_bytes()


def test_the_roadmap_sheet_counts_each_items_statuses_as_the_schools_reported_them(published):
    """Each roadmap item's row: the status every counted ОО reported (its column), and how many of them did it."""
    from contracts.catalogue import load_catalogue
    from pipeline.publish.compute import stored_run
    from pipeline.store import queries

    with warehouse.connect(published.database, read_only=True) as con:
        subs = stored_run(con, queries.published_run_of(con, MUNI, PERIOD).run_id).subs
        facts = queries.facts_of(con, list(subs["sha256"]), ["roadmap_status"])["roadmap_status"]
    reported = {(r.school_id, r.activity_code): r.status for r in facts.itertuples()}
    finished = load_catalogue().group("roadmap_done")
    sheet = openpyxl.load_workbook(municipal(published), read_only=True)["Дорожная карта"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    schools = rows[0][6:]
    assert schools == list(subs["school_id"])
    items = load_reference().municipalities[MUNI].roadmap
    assert [r[0] for r in rows[1:]] == [item.code for item in items]
    for row in rows[1:]:
        statuses = [reported.get((school, row[0])) for school in schools]
        assert [v or None for v in row[6:]] == statuses
        assert row[2] == sum(status in finished for status in statuses)
    assert any(row[2] for row in rows[1:]), "the sample must have done items"


@pytest.mark.libreoffice
def test_summaries_open_in_libreoffice_and_export_to_pdf(published, tmp_path):
    for path in (municipal(published), regional(published)):
        convert(path, "pdf", tmp_path)
        pdf = tmp_path / (path.stem + ".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000


def test_region_consolidates_signed_municipal_workbooks(published, tmp_path):
    import dagster as dg

    from pipeline.definitions import build_defs

    region_ws = Workspace.resolve(tmp_path / "region_home")
    upstream = region_ws.home / "upstream"
    upstream.mkdir()
    shutil.copy(municipal(published), upstream / "from_kedrovy.xlsx")
    forged = upstream / "forged.xlsx"
    shutil.copy(municipal(published), forged)
    wb = openpyxl.load_workbook(forged)
    wb["_data"]["F2"] = 999
    wb.save(forged)
    defs = build_defs({"svod": SvodWorkspace(home=str(region_ws.home))})
    result = dg.materialize(
        [defs.get_assets_def("regional_summary")], resources={"svod": SvodWorkspace(home=str(region_ws.home))}
    )
    assert result.success
    with warehouse.connect(region_ws.database) as con:
        messages = ingest_municipal_summaries(region_ws, con)
        runs = con.execute("SELECT municipality, source_file FROM run").fetchall()
    assert [m.accepted for m in messages] == [False, True]
    assert "изменен" in messages[0].message
    assert (
        len(runs) == 1
        and runs[0][0] == MUNI
        and runs[0][1] == hashlib.sha256((upstream / "from_kedrovy.xlsx").read_bytes()).hexdigest()
    )
    mine = openpyxl.load_workbook(regional(region_ws))["Показатели по МО"]
    theirs = openpyxl.load_workbook(regional(published))["Показатели по МО"]
    assert [[c.value for c in r] for r in mine.iter_rows(min_row=4)] == [
        [c.value for c in r] for r in theirs.iter_rows(min_row=4)
    ]
    lineage = openpyxl.load_workbook(regional(region_ws))["Происхождение"]
    assert all(
        str(r[-1]).startswith("сводка МО, файл")
        for r in lineage.iter_rows(min_row=2, values_only=True)
        if r[2] != "ИТОГО по региону"
    )


def test_warehouse_views_aggregate_shares_as_sums_and_state_coverage(published):
    with warehouse.connect(published.database, read_only=True) as con:
        schools = con.execute(
            "SELECT indicator, sum(numerator), sum(denominator) FROM indicator_published "
            "WHERE level = 'school' AND municipality = ? GROUP BY 1",
            [MUNI],
        ).fetchall()
        muni = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT indicator, numerator, denominator, value FROM indicator_published "
                "WHERE level = 'municipality' AND municipality = ?",
                [MUNI],
            ).fetchall()
        }
        region = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT indicator, numerator, denominator, value FROM indicator_regional WHERE region = ?",
                [load_reference().municipalities[MUNI].region],
            ).fetchall()
        }
        coverage = con.execute(
            "SELECT expected, accepted, missing FROM coverage WHERE municipality = ? AND period = ?",
            [MUNI, PERIOD],
        ).fetchone()
        targets = con.execute(
            "SELECT indicator, target, actual, deviation FROM target_deviation WHERE municipality = ?", [MUNI]
        ).fetchall()
    hidden = {(code, level) for code, level in con_hidden(published)}
    assert hidden, "the e2e data has survey lines of fewer than 5 respondents"
    for code, num, den in schools:
        if (code, "school") in hidden or (code, "municipality") in hidden:  # the views print the hidden form
            assert muni[code][2] is None or (code, "municipality") not in hidden
            continue
        if BY_CODE[code].shared is None and not BY_CODE[code].largest:  # those: test_indicators_property
            assert muni[code][0] == num and (muni[code][1] or 0) == (den or 0)  # ОО → МО
        if not BY_CODE[code].counts_people or (muni[code][0] or 0) >= 5:
            assert region[code] == muni[code]  # МО → регион (one МО)
    share = region["I03"]
    assert share[2] == pytest.approx(round(100 * share[0] / share[1], 1))
    assert coverage == (6, 6, 0)
    assert {t[0] for t in targets} >= {"I11c", "I11f", "I13legal", "I01"}
    assert all(t[3] == pytest.approx(round(t[2] - t[1], 1)) for t in targets if t[2] is not None)


def con_hidden(ws) -> list[tuple[str, str]]:
    """(indicator, level) of every published figure hidden in the e2e municipality's run."""
    with warehouse.connect(ws.database, read_only=True) as con:
        return con.execute(
            "SELECT indicator, level FROM indicator_published WHERE municipality = ? AND hidden IS NOT NULL "
            "AND value IS NULL AND numerator IS NULL AND denominator IS NULL",
            [MUNI],
        ).fetchall()


def test_a_warehouse_with_the_old_lineage_table_keeps_its_lineage(published, tmp_path):
    """Warehouses from before per-return lineage kept figure_source as a table; opening one converts it."""
    import duckdb

    old = tmp_path / "old.duckdb"
    shutil.copy(published.database, old)
    with warehouse.connect(old) as con:
        before = sorted(con.execute("SELECT * FROM figure_source").fetchall())
    con = duckdb.connect(str(old))  # back to the old layout: a plain table, no per-return tables
    con.execute(
        "CREATE TABLE figure_source_copy AS SELECT * FROM figure_source "  # regional totals came later
        "WHERE figure_id NOT IN (SELECT figure_id FROM figure_part)"
    )
    con.execute("DROP VIEW figure_source")
    con.execute("DROP TABLE return_source")
    con.execute("DROP TABLE figure_input")
    con.execute("DROP TABLE return_figure")
    con.execute("ALTER TABLE figure_source_copy RENAME TO figure_source")
    con.execute("DELETE FROM svod_meta WHERE key = 'schema'")  # a release before the schema's stamp
    con.close()
    with warehouse.connect(old) as con:
        kind = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'figure_source'"
        ).fetchone()[0]
        assert kind == "VIEW"
        assert sorted(con.execute("SELECT * FROM figure_source").fetchall()) == before


def printed(book, out_dir) -> list[str]:
    """The workbook as LibreOffice prints it to PDF: the text of each page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    convert(book, "pdf", out_dir)
    pdf = out_dir / book.with_suffix(".pdf").name
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f")[:-1]


@pytest.mark.libreoffice
@pytest.mark.skipif(
    shutil.which("pdftotext") is None and not os.environ.get("CI"), reason="poppler-utils is not installed"
)
def test_both_summaries_print_as_documents(published, tmp_path):
    """Exported to PDF by LibreOffice: «Стр. N из M» counts the pages; the indicator tables print
    INDICATOR_COLUMNS_PER_PAGE figures a page with their header row and the ОО or МО repeated; counts print without
    decimals and shares with «%»; the title page carries no run id, which is on the technical sheet."""
    ref = load_reference()
    run_id = openpyxl.load_workbook(municipal(published))[TECHNICAL_SHEET]["B2"].value
    for book, sheet, head, first in (
        (municipal(published), "Показатели по ОО", "Код ОО", ref.municipalities[MUNI].schools[0].id),
        (regional(published), "Показатели по МО", "Муниципалитет", ref.municipalities[MUNI].name),
    ):
        pages = printed(book, tmp_path / book.stem)
        assert all(f"Стр. {n} из {len(pages)}" in page for n, page in enumerate(pages, start=1)), book.name
        table = [page for page in pages if page.splitlines()[0].rstrip().endswith(sheet)]
        chart_page = sheet == "Показатели по ОО"  # pairs by ОО, on a page of its own
        assert len(table) == -(-len(HEADLINES) // INDICATOR_COLUMNS_PER_PAGE) + chart_page, (
            book.name,
            len(table),
        )
        table = [page for page in table if first in page]
        assert len(table) == -(-len(HEADLINES) // INDICATOR_COLUMNS_PER_PAGE), book.name
        for page in table:
            body = "\n".join(page.splitlines()[1:])
            assert head in body and first in body, (
                book.name,
                page[:300],
            )  # header row and first columns repeat
        first_page = re.sub(r"\d\d\.\d\d\.\d{4}", "", table[0])  # shares and counts only: no «53.0»
        assert not re.findall(r"\d+\.\d+(?!\d| ?%)", "\n".join(first_page.splitlines()[1:])), table[0]
        sheet_cells = openpyxl.load_workbook(book)[sheet]
        header_row = 1 if sheet == "Показатели по ОО" else 3
        for cell in sheet_cells[header_row + 1][2:]:  # every figure column prints in its unit's format
            unit = BY_CODE[str(sheet_cells.cell(header_row, cell.column).value).split(" ")[0]].unit
            assert cell.number_format == NUMBER_FORMATS[unit] or isinstance(cell.value, str | None), (
                book.name,
                cell.coordinate,
            )

        def printed_code(code, pages):
            return any(re.search(rf"(?<!\w){code}(?!\w)", page) for page in pages)

        shown = [code for code in (i.code for i in HEADLINES) if printed_code(code, table)]
        assert shown == [i.code for i in HEADLINES]
        cuts = [page for page in pages if page.splitlines()[0].rstrip().endswith("Разрезы")]
        assert [
            i.code for group in BREAKDOWNS.values() for i in group if not printed_code(i.code, cuts)
        ] == [], book.name
        assert run_id not in pages[0]
    assert run_id and not any(run_id in page for page in pages)  # nor does the regional workbook


NEXT = "2026"  # Кедровый's next period: its summary compares with 2025


@pytest.fixture(scope="module")
def two_years(tmp_path_factory) -> Workspace:
    ws = Workspace.resolve(tmp_path_factory.mktemp("trend") / "home")
    targets = [(MUNI, PERIOD), (MUNI, NEXT)]
    for municipality, period in targets:
        materialize(ws, instance(ws), ["school_templates"], partition_key(municipality, period))
    demo.fill_inbox(ws, targets)
    consolidate(ws, targets, settle=0)
    return ws


def test_a_summary_shows_each_indicator_beside_the_earlier_period(two_years):
    """«Динамика»: every indicator now and in the previous comparable period held in the warehouse, the change,
    each earlier figure linked to its own lineage; a chart over the periods; the first period says it has none."""
    later = two_years.out / MUNI / f"svod_{MUNI}_{NEXT}.xlsx"
    sheet = openpyxl.load_workbook(later)["Динамика"]
    header = [c.value for c in sheet[1]]
    assert header == ["Показатель", f"{PERIOD} (предыдущий год)", NEXT, f"Изменение к {PERIOD}"]
    with warehouse.connect(two_years.database, read_only=True) as con:
        published = {
            (i, p): v
            for i, p, v in con.execute(
                "SELECT indicator, period, value FROM indicator_published WHERE level = 'municipality' AND municipality = ?",
                [MUNI],
            ).fetchall()
        }
    rows = [r for r in sheet.iter_rows(min_row=2) if r[0].value]
    assert {r[0].value.split(" ")[0] for r in rows} == {i.code for i in INDICATORS}
    for then, now, change in ((r[1], r[2], r[3]) for r in rows):
        code = sheet.cell(then.row, 1).value.split(" ")[0]
        assert then.value in (published[(code, PERIOD)], "—") and now.value in (
            published[(code, NEXT)],
            "—",
        ), code
        if isinstance(then.value, float | int) and isinstance(now.value, float | int):
            assert change.value == pytest.approx(round(now.value - then.value, 1)), code
        answer = figure_id_at(later, f"Динамика!{then.coordinate}")
        assert (answer.period, answer.level.value, answer.entity) == (PERIOD, "municipality", MUNI)
    with (
        zipfile.ZipFile(later) as z,
        zipfile.ZipFile(two_years.out / MUNI / f"svod_{MUNI}_{PERIOD}.xlsx") as first,
    ):
        charts = lambda book: sum(n.startswith("xl/charts/chart") for n in book.namelist())  # noqa: E731
        assert charts(z) > charts(first)  # the chart over periods
    earliest = openpyxl.load_workbook(two_years.out / MUNI / f"svod_{MUNI}_{PERIOD}.xlsx")["Динамика"]
    assert any("нет сводок за предыдущие" in str(c.value) for row in earliest.iter_rows() for c in row)


def test_every_indicator_and_breakdown_is_explained_down_to_school_cells(published):
    """Each code of §3 is in the municipal workbook (a column of «Показатели по ОО» or a row of «Разрезы») and in
    the regional one, and `svod explain` on its total lists the school cells it came from."""
    from pipeline.publish.lineage import explain

    book = municipal(published)
    wb = openpyxl.load_workbook(book)
    heads = {str(c.value).split(" ")[0]: c.column_letter for c in wb["Показатели по ОО"][1][2:]}
    total_row = next(
        r
        for r in range(2, wb["Показатели по ОО"].max_row + 1)
        if wb["Показатели по ОО"].cell(r, 2).value == "ИТОГО"
    )
    cuts = {
        str(row[0].value).split(" ")[0]: row[0].row
        for row in wb["Разрезы"].iter_rows(min_row=2)
        if row[0].value and wb["Разрезы"].cell(row[0].row, 2).value is not None
    }
    assert set(heads) | set(cuts) == {i.code for i in INDICATORS}
    for code in (i.code for i in INDICATORS):
        cell = f"Показатели по ОО!{heads[code]}{total_row}" if code in heads else f"Разрезы!B{cuts[code]}"
        answer = explain(book, cell, published.database)
        assert answer["indicator"] == code and answer["level"] == "municipality", cell
        assert answer["sources"] and all(s["sha256"] and s["sheet"] for s in answer["sources"]), cell
    regional_wb = openpyxl.load_workbook(regional(published))
    shown = {str(c.value).split(" ")[0] for c in regional_wb["Показатели по МО"][3][2:]}
    shown |= {
        str(row[0].value).split(" ")[0] for row in regional_wb["Разрезы"].iter_rows(min_row=2) if row[0].value
    }
    assert shown >= {i.code for i in INDICATORS}
    assert {"Цели", "Динамика"} <= set(regional_wb.sheetnames)


def test_a_warehouse_from_before_suppression_decides_it_for_every_stored_run(published, tmp_path):
    """Opening a warehouse whose figures carry no suppression decides it as publishing does now."""
    import duckdb

    old = tmp_path / "old.duckdb"
    shutil.copy(published.database, old)
    with warehouse.connect(old, read_only=True) as con:
        before = sorted(
            con.execute("SELECT figure_id, hidden FROM figure WHERE hidden IS NOT NULL").fetchall()
        )
    assert before
    con = duckdb.connect(str(old))
    for view in ("indicator_regional", "target_deviation", "indicator_published"):
        con.execute(f"DROP VIEW {view}")
    con.execute("ALTER TABLE figure DROP COLUMN hidden")
    con.execute("DELETE FROM svod_meta WHERE key = 'schema'")  # a release before the schema's stamp
    con.close()
    with warehouse.connect(old) as con:
        assert (
            sorted(con.execute("SELECT figure_id, hidden FROM figure WHERE hidden IS NOT NULL").fetchall())
            == before
        )
