"""The municipal summary workbook, rendered from a stored run (`pipeline.publish.compute.stored_run`): indicators
by ОО with the municipal total, every figure linked to its lineage row, the machine-readable figures and the
signed seal the regional tier verifies. The other sheets are drawn by `municipal_sheets`.

Rendering never computes a figure, so the workbook shows exactly the run the asset checks verified, and the
same run renders to the same bytes (`svod reissue`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from pipeline.bulk import rare_collections
from pipeline.domain.figures import shown_value
from pipeline.domain.indicators import BY_CODE, HEADLINES
from pipeline.domain.suppression import lineage_values
from pipeline.domain.vocabulary import Level
from pipeline.files import atomic_copy
from pipeline.publish import municipal_sheets as parts
from pipeline.publish.compute import compute, store, stored_run
from pipeline.reference import Reference
from pipeline.store import queries
from pipeline.xlsx.book import Book, Cell
from pipeline.xlsx.summary_layout import (
    DATA_HEADER,
    DATA_SHEET,
    FIGURE_ID_HEADER,
    FIRST_LINEAGE_ROW,
    INDICATOR_COLUMNS_PER_PAGE,
    LINEAGE_SHEET,
    MUNICIPAL_SHEETS,
    SEAL_SHEET,
    TECHNICAL_SHEET,
    SummarySeal,
    figures_digest,
    lineage_link,
    municipal_paths,
)

PRINT = {  # how each sheet prints (`Book.sheet`): the wide ones at a fixed scale, their first columns repeated
    "Титул": {"portrait": True},
    "Показатели по ОО": {"header_row": 0, "repeat_columns": 2, "pages_wide": None, "scale": 70},
    "Разрезы": {"header_row": 0, "repeat_columns": 2, "pages_wide": None, "scale": 70},
    "Цели": {
        "header_row": 0,
        "pages_wide": None,
        "scale": 90,
    },  # at a fixed scale, charts keep their page breaks
    "Динамика": {"header_row": 0, "pages_wide": None, "scale": 90},
    "Дорожная карта": {"header_row": 0, "repeat_columns": 2, "pages_wide": None, "scale": 70},
    "Сдача отчётов": {"header_row": 0},
    "Качество данных": {"portrait": True, "header_row": 0},
    LINEAGE_SHEET: {"header_row": 0},
    TECHNICAL_SHEET: {"portrait": True},
}


@rare_collections()
def write_municipal(con, ref: Reference, out_dir: Path, run_id: str, signing_key: str) -> Path:
    """Render a stored run as the latest municipal summary, plus an immutable copy named by its run id."""
    run = stored_run(con, run_id)
    municipality, period_code = run.municipality, run.period
    m = ref.municipalities[municipality]
    period = m.period(period_code)
    all_subs = queries.submissions_of(con, run.snapshot)
    figures, subs = run.figures, run.subs
    latest, kept = municipal_paths(out_dir, municipality, period_code, run_id)
    as_of = subs["received_at"].max().date() if len(subs) else period.end  # the newest return counted
    book = Book(
        kept, running_head=f"Наставничество: {m.name} · период {period_code} · данные на {as_of:%d.%m.%Y}"
    )
    sheets = {name: book.sheet(name, **PRINT.get(name, {})) for name in MUNICIPAL_SHEETS}
    # lineage first, so figure cells can link to their rows
    lineage = sheets[LINEAGE_SHEET]
    lineage_header = [
        FIGURE_ID_HEADER,
        "Показатель",
        "Уровень",
        "ОО / МО",
        "Формула",
        "Значение",
        "Числитель",
        "Знаменатель",
        "Источники (ОО, файл, версия, ячейки)",
    ]
    listed = _listed(figures)
    data_as_of = queries.run_of(con, run_id).created_at
    earlier = [
        (label, p, figs)
        for label, p in m.comparable(period)
        if (figs := queries.comparable_figures(con, municipality, p.code, data_as_of))
    ]
    earlier_rows = [
        [
            fid,
            BY_CODE[code].title,
            Level.MUNICIPALITY.ru,
            municipality,
            BY_CODE[code].words,
            *lineage_values(shown_value(value, hidden), num, den, hidden),
            f"сводка за {p.code} (расчёт {run})",
        ]
        for _, p, figs in earlier
        for code, (fid, value, num, den, run, hidden) in figs.items()
        if code in BY_CODE
    ]
    totals = listed.totals
    rows = [
        [fid, BY_CODE[code].title, level.ru, entity, BY_CODE[code].words, *values, run.texts[(code, entity)]]
        for fid, code, level, entity, values in zip(
            listed.ids, listed.codes, listed.levels, listed.entities, listed.values, strict=True
        )
    ]
    book.table(lineage, 0, lineage_header, [])
    # the municipality's first; the largest sheet, worked out by a second process while this one writes the rest
    book.bulk_rows(lineage, 1, rows[:totals] + earlier_rows + rows[totals:], apart=True)
    for i, w in enumerate([34, 36, 8, 12, 50, 10, 10, 10, 120]):
        lineage.set_column(i, i, w)
    # on paper: the municipality's figures, now and earlier, and their parts; the ids, the ОО's figures and the
    # source lists are for the screen and `svod explain`
    lineage.print_area(0, 1, totals + len(earlier_rows), 7)
    row_of = {
        key: n + FIRST_LINEAGE_ROW + (len(earlier_rows) if n >= totals else 0)
        for n, key in enumerate(zip(listed.codes, listed.entities, strict=True))
    }
    row_of |= {(row[0], "lineage"): n + FIRST_LINEAGE_ROW + totals for n, row in enumerate(earlier_rows)}
    # indicators by school: ОО in rows, printed 10 indicators a page with the ОО repeated
    ws = sheets["Показатели по ОО"]
    schools = {s.id: s for s in m.schools}
    reported = list(subs["school_id"])
    ws.write_string(0, 0, "Код ОО", book.head)
    ws.write_string(0, 1, "ОО", book.head)
    ws.set_column(0, 0, 9)
    ws.set_column(1, 1, 24)
    for c, ind in enumerate(HEADLINES, start=2):
        ws.write_string(0, c, f"{ind.code} {ind.title}", book.head)
        ws.set_column(c, c, 11)
    ws.set_row(0, 90)
    ws.set_v_pagebreaks(
        list(range(2 + INDICATOR_COLUMNS_PER_PAGE, 2 + len(HEADLINES), INDICATOR_COLUMNS_PER_PAGE))
    )
    shown = dict(zip(zip(listed.codes, listed.entities, strict=True), listed.shown, strict=True))
    names = {sid: schools[sid].short_name if sid in schools else sid for sid in reported}
    entities = [(sid, names[sid]) for sid in reported] + [(municipality, "ИТОГО")]

    def figure_cell(code: str, entity: str):
        """A figure's cell linked to its lineage row; blank where the figure has no value at this level."""
        row = row_of.get((code, entity))
        if row is None:
            return None
        fmt = book.figure_format(BY_CODE[code].unit, entity == municipality)
        return book.figure_cell(shown[(code, entity)], fmt, lineage_link(row))

    book.bulk_rows(
        ws,
        1,
        [
            [
                "" if entity == municipality else entity,
                Cell(name, book.bold) if entity == municipality else name,
                *(figure_cell(ind.code, entity) for ind in HEADLINES),
            ]
            for entity, name in entities
        ],
    )
    ws.freeze_panes(1, 2)
    parts.breakdowns_sheet(
        book,
        sheets["Разрезы"],
        [(municipality, "ИТОГО по МО"), *[(sid, names[sid]) for sid in reported]],
        figure_cell,
    )
    if reported:
        chart = book.wb.add_chart({"type": "bar"})
        col = 2 + [i.code for i in HEADLINES].index("I06")
        chart.add_series(
            {
                "name": "Действующие пары и группы (I06)",
                "categories": ["Показатели по ОО", 1, 1, len(reported), 1],
                "values": ["Показатели по ОО", 1, col, len(reported), col],
                "fill": {"color": "#5B9BD5"},
            }
        )
        chart.set_title({"name": "Действующие пары и группы по ОО"})
        chart.set_legend({"none": True})
        chart.set_x_axis({"name": "пар и групп", "num_format": "0"})
        chart.set_size({"width": 720, "height": min(600, max(300, 14 * len(reported)))})  # a page at most
        ws.set_h_pagebreaks([len(entities) + 2])  # on a page of its own
        ws.insert_chart(len(entities) + 3, 1, chart)
    # title and coverage
    returned = queries.returned_schools(con, municipality, period_code, run.snapshot)
    parts.title_sheet(book, sheets["Титул"], ref.regions[m.region], m, period, as_of, all_subs, returned)
    parts.technical_sheet(book, sheets[TECHNICAL_SHEET], run_id, ref.version)
    parts.targets_sheet(book, sheets["Цели"], ref.targets, m, period, shown, row_of)
    parts.trends_sheet(book, sheets["Динамика"], ref.targets, m, period, earlier, shown, row_of)
    parts.roadmap_sheet(
        book,
        sheets["Дорожная карта"],
        m,
        queries.facts_of(con, list(subs["sha256"]), ["roadmap_status"]),
        subs,
    )
    parts.submissions_sheet(book, sheets["Сдача отчётов"], m, all_subs)
    parts.quality_sheet(con, book, sheets["Качество данных"], m, run.snapshot)
    data_rows = [
        [fid, code, Level.MUNICIPALITY.value, entity, period_code, *values[1:]]
        for fid, code, entity, values in zip(
            listed.ids[:totals],
            listed.codes[:totals],
            listed.entities[:totals],
            listed.values[:totals],
            strict=True,
        )
    ]
    data = book.sheet(DATA_SHEET)
    book.table(data, 0, DATA_HEADER, data_rows)
    data.hide()
    seal = SummarySeal(
        municipality=municipality,
        region=m.region,
        period=period_code,
        run_id=run_id,
        figures_sha256=figures_digest(data_rows),
    ).signed(signing_key)
    sealed = book.sheet(SEAL_SHEET)
    for r, (key, value) in enumerate(seal.rows()):
        sealed.write_string(r, 0, key)
        sealed.write_string(r, 1, value)
    sealed.very_hidden()
    sheets["Титул"].activate()
    atomic_copy(book.close(), latest)
    return latest


class _Listed(NamedTuple):
    """A run's figures in the lineage sheet's order (the municipality's first, then by ОО and indicator), as
    columns: `values` is each one's [value, numerator, denominator] as a lineage row prints them."""

    totals: int  # how many are the municipality's
    ids: list[str]
    codes: list[str]
    levels: list[Level]
    entities: list[str]
    shown: list[float | str | None]
    values: list[list]


def _listed(figures: pd.DataFrame) -> _Listed:
    school = figures["level"].ne(Level.MUNICIPALITY.value).rename("school")
    ordered = figures.assign(school=school).sort_values(["school", "entity", "indicator"], kind="stable")

    def column(name: str) -> list:
        return [None if v != v else v for v in ordered[name].tolist()]  # blank, not NaN

    value, numerator, denominator, hidden = (
        column(c) for c in ("value", "numerator", "denominator", "hidden")
    )
    shown = [shown_value(v, h) for v, h in zip(value, hidden, strict=True)]
    return _Listed(
        totals=int((~school).sum()),
        ids=ordered["figure_id"].tolist(),
        codes=ordered["indicator"].tolist(),
        levels=[Level(v) for v in ordered["level"].tolist()],
        entities=ordered["entity"].tolist(),
        shown=shown,
        values=[lineage_values(*row) for row in zip(shown, numerator, denominator, hidden, strict=True)],
    )


def publish(
    con,
    ref: Reference,
    out_dir: Path,
    municipality: str,
    period: str,
    signing_key: str,
    journal: Path | None = None,
) -> tuple[Path, str]:
    """The two publishing steps outside Dagster (samples, benchmarks): compute and store the run of what is checked
    now, then render that stored run. Returns (the latest summary, run id)."""
    run = compute(con, ref, municipality, period)
    store(con, ref, run, journal)
    return write_municipal(con, ref, out_dir, run.run_id, signing_key), run.run_id
