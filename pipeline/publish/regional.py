"""The regional workbook: per-municipality aggregates of each municipality's published run, and the region's
total, with small counts of people suppressed (domain.md §4). No IDs, names or free text of any ОО.

Every shown figure links to its lineage row, whose first column is the figure it shows: a municipal figure, or
a regional total stored here as a figure whose parts are those municipal figures (`figure_part`). So
`svod explain` follows any regional cell down to the school cells, and `svod impact` goes up to the totals.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipeline.domain.figures import Figure, FigureId, aggregate
from pipeline.domain.indicators import BY_CODE, HEADLINES, INDICATORS
from pipeline.domain.suppression import (
    FEW_PEOPLE,
    FEW_RESPONDENTS,
    MIN_RESPONDENTS,
    SMALL_COUNT,
    lineage_values,
    suppress,
)
from pipeline.domain.vocabulary import Level
from pipeline.files import atomic_write
from pipeline.publish.municipal_sheets import breakdowns_sheet, target_rows
from pipeline.reference import Reference
from pipeline.store import queries
from pipeline.store import runs as runs_store
from pipeline.xlsx.book import Book
from pipeline.xlsx.summary_layout import (
    FIGURE_ID_HEADER,
    FIRST_LINEAGE_ROW,
    INDICATOR_COLUMNS_PER_PAGE,
    LINEAGE_SHEET,
    lineage_link,
    regional_path,
)

TOTAL = "__total__"
WITHHELD = "сводка МО без чисел скрытого показателя"  # a part's origin where its municipality hid its numbers
REGIONAL_JOURNAL = "region"  # journal/region/<run>.json: each regional run's periods, replayed by a rebuild


def write_regional(
    con, ref: Reference, out_dir: Path, region: str, periods: dict[str, str], journal: Path | None = None
) -> Path:
    """One region's workbook from each municipality's published run for the period given for it; its totals are
    stored (and journaled, for a rebuild) as the region's figures."""
    munis = [m for m in ref.municipalities_of(region) if m.code in periods]
    label = ", ".join(sorted(set(periods.values())))
    book = Book(
        regional_path(out_dir, region, set(periods[m.code] for m in munis)),
        running_head=f"Наставничество: {ref.regions[region]} · период {label}",
    )
    title = book.sheet("Титул", portrait=True)
    ws = book.sheet("Показатели по МО", header_row=2, repeat_columns=2, pages_wide=None, scale=70)
    cuts = book.sheet("Разрезы", header_row=0, repeat_columns=2, pages_wide=None, scale=70)
    goals, trend = (
        book.sheet(name, header_row=0, pages_wide=None, scale=90) for name in ("Цели", "Динамика")
    )
    cov, lin = book.sheet("Охват", header_row=0), book.sheet(LINEAGE_SHEET, header_row=0)
    coverage = [_coverage(con, m, periods[m.code]) for m in munis]
    title_sheet(book, title, con, ref, region, munis, periods, coverage)
    book.text(ws, 0, 0, f"Региональная сводка: {ref.regions[region]}", book.title)
    cells = municipal_figures(con, ref, region, periods)
    ws.set_column(0, 0, 30, book.wrap)
    ws.set_column(1, 1, 10)
    ws.set_column(2, 2 + len(HEADLINES), 11)
    ws.set_row(2, 90)
    ws.set_v_pagebreaks(
        list(range(2 + INDICATOR_COLUMNS_PER_PAGE, 2 + len(HEADLINES), INDICATOR_COLUMNS_PER_PAGE))
    )
    book.table(ws, 2, ["Муниципалитет", "Период", *[f"{i.code} {i.title}" for i in HEADLINES]], [])
    ws.freeze_panes(3, 2)
    shown = store_totals(con, region, periods, cells, journal)
    lineage_rows: list[list] = []
    row_of: dict[tuple[str, str], int] = {}  # (municipality or TOTAL, indicator) -> its lineage row
    shown_of: dict[tuple[str, str], object] = {}

    def figure_cell(code: str, entity: str):
        """One shown figure linked to its lineage row: a municipality's, or the region's total (`TOTAL`)."""
        ind = BY_CODE[code]
        f, fid = shown.get((entity, code), (None, ""))
        where = "ИТОГО по региону" if entity == TOTAL else names[entity]
        origin = f"сумма сводок МО: {len(munis)}" if entity == TOTAL else cells[(entity, code)][2]
        shown_of[(entity, code)] = value = "—" if f is None else f.shown
        cell = book.figure_cell(
            value,
            book.figure_format(ind.unit, total=entity == TOTAL),
            lineage_link(FIRST_LINEAGE_ROW + len(lineage_rows)) if fid else None,
            book.bold if entity == TOTAL else None,
        )
        if fid:
            row_of[(entity, code)] = FIRST_LINEAGE_ROW + len(lineage_rows)
            lineage_rows.append(
                [fid, ind.title, where, *lineage_values(value, f.numerator, f.denominator, f.hidden), origin]
            )
        return cell

    names = {m.code: m.name for m in munis}
    book.bulk_rows(
        ws,
        3,
        [
            *([m.name, periods[m.code], *(figure_cell(i.code, m.code) for i in HEADLINES)] for m in munis),
            ["ИТОГО по региону", "", *(figure_cell(i.code, TOTAL) for i in HEADLINES)],
        ],
    )
    total_row = 3 + len(munis)
    by_municipality_charts(book, ws, len(munis), total_row + 3)
    breakdowns_sheet(
        book, cuts, [(TOTAL, "ИТОГО по региону"), *[(m.code, m.name) for m in munis]], figure_cell
    )
    region_wide = [
        t for t in ref.targets if t.municipality == "*" and t.indicator in BY_CODE and t.year is None
    ]
    target_rows(
        book,
        goals,
        [
            (
                f"{names[m.code]}: {t.indicator} {BY_CODE[t.indicator].title}",
                t,
                shown_of[(m.code, t.indicator)],
                row_of.get((m.code, t.indicator)),
            )
            for m in munis
            for t in ref.targets
            if t.applies(m.code, m.period(periods[m.code])) and t.indicator in BY_CODE
        ]
        + [
            (
                f"ИТОГО по региону: {t.indicator} {BY_CODE[t.indicator].title}",
                t,
                shown_of[(TOTAL, t.indicator)],
                row_of.get((TOTAL, t.indicator)),
            )
            for t in region_wide
        ],
    )
    lineage_rows += trends_sheet(
        book, trend, con, munis, periods, shown_of, row_of, FIRST_LINEAGE_ROW + len(lineage_rows)
    )
    book.table(
        cov,
        0,
        [
            "Муниципалитет",
            "Период",
            "ОО в реестре",
            "Принято отчётов",
            "Из них с опозданием",
            "Нет принятого отчёта",
        ],
        coverage,
        head_height=30,
    )
    cov.set_column(0, 0, 40)
    book.table(
        lin,
        0,
        [
            FIGURE_ID_HEADER + " (сводка МО)",
            "Показатель",
            "Муниципалитет",
            "Значение",
            "Числитель",
            "Знаменатель",
            "Источник",
        ],
        lineage_rows,
    )
    lin.set_column(0, 6, 30)
    lin.print_area(0, 1, len(lineage_rows), 6)  # the figure ids are for `svod explain`, not for paper
    title.activate()
    return book.close()


CHARTED = ("I01", "I06")  # a share and a count: one chart each, by municipality


def by_municipality_charts(book: Book, ws, rows: int, at: int) -> None:
    """Bar charts of `CHARTED` indicators by municipality under the table (one unit per chart)."""
    name = ws.get_name()
    for code in CHARTED:
        col = 2 + [i.code for i in HEADLINES].index(code)
        chart = book.wb.add_chart({"type": "bar"})
        chart.add_series(
            {
                "name": f"{BY_CODE[code].title} ({code})",
                "categories": [name, 3, 0, 2 + rows, 0],
                "values": [name, 3, col, 2 + rows, col],
                "fill": {"color": "#5B9BD5"},
            }
        )
        chart.set_title({"name": f"{BY_CODE[code].title}: по муниципалитетам"})
        chart.set_legend({"none": True})
        chart.set_x_axis({"name": "%" if BY_CODE[code].is_share else "число", "num_format": "0"})
        chart.set_size({"width": 720, "height": max(260, 40 * rows)})
        ws.insert_chart(at, 0, chart)
        at += max(14, 2 * rows + 4)


def trends_sheet(
    book: Book, ws, con, munis: list, periods: dict[str, str], shown_of: dict, row_of: dict, first_row: int
) -> list[list]:
    """Each municipality's headline indicators now and in its previous comparable period held here (as its
    municipal summary saw it), with the change; returns the lineage rows of those earlier figures, which start at
    lineage row `first_row`. Small counts of people stay hidden."""
    book.table(
        ws,
        0,
        ["Муниципалитет", "Показатель", "Ранее: период", "Ранее", "Сейчас", "Изменение"],
        [],
        head_height=30,
    )
    for i, w in enumerate([26, 46, 12, 10, 10, 11]):
        ws.set_column(i, i, w)
    extra, r = [], 1
    for m in munis:
        made = queries.published_run_of(con, m.code, periods[m.code])
        earlier = [
            (p, figs)
            for _, p in m.comparable(m.period(periods[m.code]))
            if made and (figs := queries.comparable_figures(con, m.code, p.code, made.created_at))
        ]
        if not earlier:
            book.text(ws, r, 0, m.name)
            book.text(ws, r, 1, "В хранилище нет сводок за предыдущие сравнимые периоды.")
            r += 1
            continue
        p, figs = earlier[-1]  # the latest of them
        for ind in HEADLINES:
            now = shown_of[(m.code, ind.code)]
            fid, value, num, den, run, hidden = figs.get(ind.code, ("", None, None, None, "", None))
            if fid:  # as the region's readers may see it
                then = suppress(
                    [ind.figure(Level.MUNICIPALITY, m.code, p.code, num or 0.0, den, hidden)], Level.REGION
                )[0]
                value, hidden = then.shown, then.hidden
            book.text(ws, r, 0, m.name)
            book.text(ws, r, 1, f"{ind.code} {ind.title}")
            book.text(ws, r, 2, p.code)
            link = lineage_link(first_row + len(extra)) if fid else None
            book.linked_figure(ws, r, 3, value, book.figure_format(ind.unit), link)
            book.linked_figure(
                ws,
                r,
                4,
                now,
                book.figure_format(ind.unit),
                lineage_link(row_of[(m.code, ind.code)]) if (m.code, ind.code) in row_of else None,
            )
            if isinstance(value, int | float) and isinstance(now, int | float):
                ws.write_number(r, 5, round(now - value, 1), book.change_format(ind.unit))
            if fid:
                extra.append(
                    [
                        fid,
                        ind.title,
                        f"{m.name} ({p.code})",
                        *lineage_values(value, num, den, hidden),
                        f"сводка МО за {p.code} (расчёт {run})",
                    ]
                )
            r += 1
    ws.freeze_panes(1, 2)
    return extra


def municipal_figures(
    con, ref: Reference, region: str, periods: dict[str, str], runs: dict[str, str] | None = None
) -> dict[tuple[str, str], tuple[Figure, str, str]]:
    """(municipality, indicator) -> (its figure, figure id or "" when it has none, where the run came from), for
    the region's municipalities in `periods`: from the published run of each, or the given `runs`."""
    cells = {}
    for m in ref.municipalities_of(region):
        if m.code not in periods:
            continue
        run = (
            queries.published_run_of(con, m.code, periods[m.code])
            if runs is None
            else queries.run_of(con, runs.get(m.code))
        )
        origin = (
            "расчёт по отчётам ОО"
            if run and run.source_file is None
            else f"сводка МО, файл {run.source_file[:16]}"
            if run
            else "нет данных"
        )
        stored = {r[0]: r[1:] for r in queries.municipal_figures_of(con, run.run_id)} if run else {}
        for ind in INDICATORS:
            num, den, fid, hidden = stored.get(ind.code, (0.0, None, "", None))
            f = ind.figure(Level.MUNICIPALITY, m.code, periods[m.code], num or 0.0, den, hidden)
            cells[(m.code, ind.code)] = (f, fid, origin if num is not None else WITHHELD)
    return cells


def store_totals(
    con,
    region: str,
    periods: dict[str, str],
    cells: dict,
    journal: Path | None = None,
    published_at: datetime | None = None,
) -> dict[tuple[str, str], tuple[Figure, str]]:
    """The region's total of each indicator over the municipal figures shown, stored as figures of one regional
    run with those figures as parts, hidden where the region's readers may not see them (`suppress`). Same parts,
    same run id. The newest published run's totals are the region's (`published_regional_run`); the journal
    keeps when and from which municipal runs, so a rebuild replays it exactly.

    Returns (municipality or TOTAL, indicator) -> (the figure as the regional workbook shows it, figure id)."""
    parts: dict[str, list[tuple[Figure, str]]] = {}
    withheld = set()  # indicators with a part whose numbers its municipality did not send (hidden there)
    for figure, fid, origin in cells.values():
        if fid:
            parts.setdefault(figure.indicator, []).append((figure, fid))
            if origin == WITHHELD:
                withheld.add(figure.indicator)
    ids = sorted(fid for group in parts.values() for _, fid in group)
    run_id = hashlib.sha256("|".join([region, *ids]).encode()).hexdigest()[:12]
    label = "+".join(sorted(set(periods.values())))
    published_at = published_at or datetime.now().replace(microsecond=0)
    sums = [
        replace(
            aggregate([f for f, _ in group], Level.REGION, region, label),
            hidden=FEW_RESPONDENTS if code in withheld else None,
        )
        for code, group in parts.items()
    ]
    ids_of = {(f.entity, f.indicator): fid for group in parts.values() for f, fid in group}
    ids_of |= {
        (TOTAL, t.indicator): FigureId(t.indicator, Level.REGION, region, label, run_id).format()
        for t in sums
    }
    decided = suppress([f for group in parts.values() for f, _ in group] + sums, Level.REGION)
    keys = [(TOTAL if f.level is Level.REGION else f.entity, f.indicator) for f in decided]
    shown = {key: (f, ids_of[key]) for key, f in zip(keys, decided, strict=True)}
    totals = {code: shown[(TOTAL, code)] for code in parts}
    figures = pd.DataFrame(
        [
            {
                "figure_id": fid,
                "run_id": run_id,
                "indicator": t.indicator,
                "level": t.level.value,
                "entity": region,
                "period": label,
                "numerator": t.numerator,
                "denominator": t.denominator,
                "value": t.value,
                "hidden": t.hidden,
            }
            for t, fid in totals.values()
        ]
    )
    links = pd.DataFrame(
        [{"figure_id": totals[code][1], "part_id": fid} for code, group in parts.items() for _, fid in group]
    )
    runs_store.replace_regional_run(con, (run_id, region, label, published_at), figures, links)
    if journal is not None:
        runs = {code: FigureId.parse(fid).run_id for (code, _), (_, fid, _) in cells.items() if fid}
        record = {
            "run_id": run_id,
            "region": region,
            "periods": periods,
            "runs": runs,
            "published_at": published_at.isoformat(),
        }
        atomic_write(
            journal / REGIONAL_JOURNAL / f"{run_id}.json", json.dumps(record, ensure_ascii=False, indent=1)
        )
    return shown


def title_sheet(
    book: Book,
    ws,
    con,
    ref: Reference,
    region: str,
    munis: list,
    periods: dict[str, str],
    coverage: list[list],
) -> None:
    """Whose summary, which periods, which municipalities are in it and as of when, who is missing, and the
    signature block."""
    missing = [m.name for m in ref.municipalities_of(region) if m.code not in periods]
    as_of = []
    for m in munis:
        made = queries.published_run_of(con, m.code, periods[m.code])
        as_of.append(
            f"{m.name} ({periods[m.code]}) — "
            + (f"{made.created_at:%d.%m.%Y}" if made and made.created_at else "по сводке МО")
        )
    book.text(ws, 0, 0, f"Региональная сводка о наставничестве: {ref.regions[region]}", book.title)
    rows = [
        ("Отчётные периоды", ", ".join(sorted(set(periods.values())))),
        ("Муниципалитеты в сводке", f"{len(munis)} из {len(munis) + len(missing)}"),
        ("Нет сводки муниципалитета", ", ".join(missing) or "нет"),
        (
            "Охват ОО",
            f"приняты отчёты {sum(c[3] for c in coverage)} из {sum(c[2] for c in coverage)} ОО "
            "(по муниципалитетам — лист «Охват»)",
        ),
        ("Данные на", "; ".join(as_of)),
        (
            "Персональные данные",
            "Только итоги по муниципалитетам и региону. Число людей меньше "
            f"{SMALL_COUNT} не показывается («{FEW_PEOPLE}»), результаты анкет, на которые "
            f"ответили меньше {MIN_RESPONDENTS} человек, — тоже («{FEW_RESPONDENTS}»).",
        ),
        (
            "Как проверить цифру",
            "Каждая цифра листа «Показатели по МО» ведёт на строку листа «Происхождение» "
            "и через сводки муниципалитетов — к ячейкам отчётов ОО.",
        ),
    ]
    book.title_page(ws, rows)


def _coverage(con, m, period: str) -> list:
    n, late = queries.accepted_and_late(con, m.code, period)
    return [m.name, period, len(m.schools), n, late, len(m.schools) - n]
