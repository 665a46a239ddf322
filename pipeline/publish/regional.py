"""The regional workbook: per-municipality aggregates of each municipality's published run, and the region's
total, with small counts of people suppressed (domain.md §4). No IDs, names or free text of any ОО.

Every shown figure links to its lineage row, whose first column is the figure it shows: a municipal figure, or
a regional total stored here as a figure whose parts are those municipal figures (`figure_part`). So
`svod explain` follows any regional cell down to the school cells, and `svod impact` goes up to the totals.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipeline.domain.figures import Figure, FigureId, aggregate
from pipeline.domain.indicators import BY_CODE, INDICATORS
from pipeline.domain.vocabulary import Level
from pipeline.reference import load_reference
from pipeline.store.warehouse import insert_frame, transaction
from pipeline.xlsx.book import Book
from pipeline.xlsx.summary_layout import (
    FIGURE_ID_HEADER,
    FIRST_LINEAGE_ROW,
    LINEAGE_SHEET,
    lineage_link,
    regional_path,
)

SUPPRESS_BELOW = 5   # people counts under this are not shown above the municipality (guess, §4)
SUPPRESSED = "< 5"
TOTAL = "__total__"


def write_regional(con, out_dir: Path, region: str, periods: dict[str, str]) -> Path:
    """One region's workbook from each municipality's published run for the period given for it."""
    ref = load_reference()
    munis = [m for m in ref.municipalities_of(region) if m.code in periods]
    book = Book(regional_path(out_dir, region, set(periods[m.code] for m in munis)))
    ws, cov, lin = (book.sheet(name) for name in ("Показатели по МО", "Охват", LINEAGE_SHEET))
    book.text(ws, 0, 0, f"Региональная сводка: {ref.regions[region]}", book.title)
    cells: dict[tuple[str, str], tuple[Figure, str, str]] = {}
    for m in munis:
        run = con.execute("SELECT run_id, source_file FROM published_run WHERE municipality = ? AND period = ?",
                          [m.code, periods[m.code]]).fetchone()
        origin = "расчёт по отчётам ОО" if run and run[1] is None else f"сводка МО, файл {run[1][:16]}" if run else "нет данных"
        for ind in INDICATORS:
            row = con.execute("SELECT numerator, denominator, figure_id FROM figure WHERE run_id = ? AND indicator = ? "
                              "AND level = ?", [run[0], ind.code, Level.MUNICIPALITY.value]).fetchone() if run else None
            f = ind.figure(Level.MUNICIPALITY, m.code, periods[m.code], row[0] if row else 0, row[1] if row else None)
            cells[(m.code, ind.code)] = (f, row[2] if row else "", origin)
    suppressed = _suppress(cells, [m.code for m in munis])
    book.table(ws, 2, ["Муниципалитет", "Период", *[f"{i.code} {i.title}" for i in INDICATORS]], [])
    lineage_rows = []
    for r, m in enumerate(munis, start=3):
        book.text(ws, r, 0, m.name)
        book.text(ws, r, 1, periods[m.code])
        for c, ind in enumerate(INDICATORS, start=2):
            f, fid, origin = cells[(m.code, ind.code)]
            hidden = (m.code, ind.code) in suppressed
            shown = SUPPRESSED if hidden else (f.value if f.value is not None else "—")
            if fid:  # a figure links to its lineage row, as on the municipal summary
                ws.write_url(r, c, lineage_link(FIRST_LINEAGE_ROW + len(lineage_rows)), book.link, string=str(shown))
            if isinstance(shown, float):
                ws.write_number(r, c, shown, book.link if fid else None)
            else:
                book.text(ws, r, c, shown)
            lineage_rows.append([fid, ind.title, m.name, shown, "скрыто" if hidden else f.numerator,
                                 "скрыто" if hidden else ("" if f.denominator is None else f.denominator), origin])
    total_row = 3 + len(munis)
    book.text(ws, total_row, 0, "ИТОГО по региону")
    totals = store_totals(con, region, [cells[(m.code, ind.code)] for m in munis for ind in INDICATORS],
                          "+".join(sorted(set(periods.values()))))
    for c, ind in enumerate(INDICATORS, start=2):
        total, fid = totals.get(ind.code, (None, ""))
        hidden = (TOTAL, ind.code) in suppressed
        shown = SUPPRESSED if hidden else ("—" if total is None or total.value is None else total.value)
        if fid:
            ws.write_url(total_row, c, lineage_link(FIRST_LINEAGE_ROW + len(lineage_rows)), book.link, string=str(shown))
        if isinstance(shown, float):
            ws.write_number(total_row, c, shown, book.link if fid else None)
        else:
            book.text(ws, total_row, c, shown)
        if fid:
            lineage_rows.append([fid, ind.title, "ИТОГО по региону", shown, "скрыто" if hidden else total.numerator,
                                 "скрыто" if hidden else ("" if total.denominator is None else total.denominator),
                                 f"сумма сводок МО: {len(munis)}"])
    ws.set_column(0, 0, 40)
    ws.set_column(2, 2 + len(INDICATORS), 14)
    ws.set_row(2, 75)
    book.table(cov, 0, ["Муниципалитет", "Период", "ОО в реестре", "Принято отчётов", "Из них с опозданием",
                        "Нет принятого отчёта"], [_coverage(con, m, periods[m.code]) for m in munis])
    cov.set_column(0, 0, 40)
    book.table(lin, 0, [FIGURE_ID_HEADER + " (сводка МО)", "Показатель", "Муниципалитет", "Значение", "Числитель",
                        "Знаменатель", "Источник"], lineage_rows)
    lin.set_column(0, 6, 30)
    ws.activate()
    return book.close()


def store_totals(con, region: str, shown: list[tuple[Figure, str, str]], periods: str) -> dict[str, tuple[Figure, str]]:
    """The region's total of each indicator over the municipal figures shown, stored as figures of one regional
    run with those figures as parts; {indicator: (total, figure id)}. Same parts, same run id."""
    parts: dict[str, list[tuple[Figure, str]]] = {}
    for figure, fid, _ in shown:
        if fid:
            parts.setdefault(figure.indicator, []).append((figure, fid))
    ids = sorted(fid for group in parts.values() for _, fid in group)
    run_id = hashlib.sha256("|".join([region, *ids]).encode()).hexdigest()[:12]
    totals = {code: (aggregate([f for f, _ in group], Level.REGION, region, periods),
                     FigureId(code, Level.REGION, region, periods, run_id).format()) for code, group in parts.items()}
    figures = pd.DataFrame([{"figure_id": fid, "run_id": run_id, "indicator": t.indicator, "level": t.level.value,
                             "entity": region, "period": periods, "numerator": t.numerator,
                             "denominator": t.denominator, "value": t.value} for t, fid in totals.values()])
    links = pd.DataFrame([{"figure_id": totals[code][1], "part_id": fid}
                          for code, group in parts.items() for _, fid in group])
    with transaction(con):
        con.execute("DELETE FROM figure_part WHERE figure_id IN (SELECT figure_id FROM figure WHERE run_id = ?)", [run_id])
        con.execute("DELETE FROM figure WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM regional_run WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO regional_run VALUES (?, ?, ?, ?)", [run_id, region, periods, datetime.now()])
        insert_frame(con, "figure", figures)
        insert_frame(con, "figure_part", links)
    return totals


def _coverage(con, m, period: str) -> list:
    n, late = con.execute("SELECT count(*), count(*) FILTER (WHERE NOT on_time) FROM current_submission "
                          "WHERE municipality = ? AND period = ?", [m.code, period]).fetchone()
    return [m.name, period, len(m.schools), n, late, len(m.schools) - n]


def _suppress(cells: dict, munis: list[str]) -> set:
    """Hide person counts below the threshold, plus complementary cells so none can be recovered from totals."""
    hidden = set()
    present = {code for _, code in cells}
    for code in present:
        if not BY_CODE[code].counts_people:
            continue
        small = [m for m in munis if 0 < cells[(m, code)][0].numerator < SUPPRESS_BELOW]
        hidden.update((m, code) for m in small)
        if len(small) == 1:
            others = sorted((cells[(m, code)][0].numerator, m) for m in munis
                            if m not in small and cells[(m, code)][0].numerator > 0)
            hidden.add((others[0][1], code) if others else (TOTAL, code))
    return hidden
