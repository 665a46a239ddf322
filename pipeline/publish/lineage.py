"""Lineage queries: from a cell of a summary workbook down to the school files, sheets and cells it came from.

The workbook itself says which figure a cell shows: a link to its row on the lineage sheet, whose first column
is the figure id (`pipeline.xlsx.summary_layout`), the same in municipal and regional workbooks. The warehouse's
figure_source view gives the exact source cells with file hash and version.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import openpyxl

from contracts.catalogue import load_catalogue
from pipeline.domain.figures import FigureId
from pipeline.domain.indicators import BY_CODE, PART_RU, SHEET_TITLES
from pipeline.domain.suppression import HIDDEN_PART, lineage_values
from pipeline.store import queries
from pipeline.store.warehouse import connect
from pipeline.xlsx.summary_layout import FIRST_LINEAGE_ROW, LINEAGE_SHEET, linked_row


class NotAFigure(ValueError):
    pass


def _split(cell_ref: str) -> tuple[str, str]:
    if "!" not in cell_ref:
        raise NotAFigure(
            f"Укажите ячейку вместе с листом, например «Показатели по ОО!C7», а не «{cell_ref}»."
        )
    sheet, cell = cell_ref.rsplit("!", 1)
    return sheet.strip("'"), cell.replace("$", "").upper()


def figure_id_at(workbook: Path, cell_ref: str) -> FigureId:
    """The figure behind a summary cell: a row of the lineage sheet, or a cell linked to one."""
    sheet, cell = _split(cell_ref)
    stat = workbook.stat()
    wb = _opened(workbook.resolve(), stat.st_mtime_ns, stat.st_size)
    if sheet not in wb.sheetnames or LINEAGE_SHEET not in wb.sheetnames:
        raise NotAFigure(
            f"В книге нет листа «{sheet}»."
            if sheet not in wb.sheetnames
            else "Эта книга не является сводкой svod: в ней нет листа «Происхождение»."
        )
    try:
        target = wb[sheet][cell]
    except ValueError as exc:
        raise NotAFigure(f"«{cell}» не является адресом ячейки.") from exc
    link = target.hyperlink
    row = target.row if sheet == LINEAGE_SHEET else linked_row(link.location or link.target) if link else None
    try:
        if row is None or row < FIRST_LINEAGE_ROW:
            raise ValueError(row)
        return FigureId.parse(wb[LINEAGE_SHEET].cell(row, 1).value)
    except ValueError as exc:
        raise NotAFigure(f"Ячейка {sheet}!{cell} не содержит показателя сводки.") from exc


@lru_cache(maxsize=4)
def _opened(path: Path, mtime_ns: int, size: int) -> openpyxl.Workbook:
    """A summary as openpyxl reads it (links included), read once per version of the file: explaining many cells
    of one workbook reads it once. Only read, never changed."""
    return openpyxl.load_workbook(path, keep_links=False)


def explain(workbook: Path, cell_ref: str, database: Path | None) -> dict:
    """What a cell of a summary workbook shows and, with the warehouse, where it came from (`trace`)."""
    fid = figure_id_at(workbook, cell_ref)
    if database is None:
        return described(fid)
    with connect(database, read_only=True) as con:
        return trace(con, fid)


def described(fid: FigureId) -> dict:
    """A figure as its id names it: indicator, its title and formula, level, entity, period and run."""
    if fid.indicator not in BY_CODE:
        raise NotAFigure(f"Показатель {fid.indicator} неизвестен этой версии svod.")
    return {
        "figure_id": fid.format(),
        "indicator": fid.indicator,
        "title": BY_CODE[fid.indicator].title,
        "formula": BY_CODE[fid.indicator].words,
        "level": fid.level.value,
        "entity": fid.entity,
        "period": fid.period,
        "run_id": fid.run_id,
        "value": None,
        "numerator": None,
        "denominator": None,
        "sources": [],
    }


def trace(con, fid: FigureId) -> dict:
    """A figure's value and the school cells it came from (file hash, version, sheet, cell, value), as the
    summaries print them: no numbers behind a hidden figure, no values of an ОО hidden under it (§4). The one
    lineage of the CLI (`svod explain`), the workbooks' sheet and the cabinet's page."""
    answer = described(fid)
    figure_id = answer["figure_id"]
    row = queries.figure_values(con, figure_id)
    hidden = row is not None and row[3] is not None
    if row:
        shown, numerator, denominator = lineage_values(row[3] or row[0], *row[1:])
        answer.update(value=shown, numerator=numerator, denominator=denominator, hidden=hidden)
    secret = _hidden_schools(con, figure_id)
    for part, sha, school, sheet, cell, value, version in queries.figure_sources(con, figure_id):
        answer["sources"].append(
            {
                "part": PART_RU[part],
                "sha256": sha,
                "school_id": school,
                "version": version,
                "sheet": SHEET_TITLES[sheet],
                "cell": cell,
                "value": HIDDEN_PART if hidden or school in secret else value,
            }
        )
    return answer


def _hidden_schools(con, figure_id: str) -> set[str]:
    """The ОО whose cells a figure's sources may not show the values of: those whose own figure of the indicator is
    hidden (§4) in the run of the figure or of one of its parts, and every ОО under a hidden part."""
    return queries.schools_hidden_under(con, figure_id)


def impact(database: Path, school_file: Path, cell_ref: str) -> dict:
    """Every published figure a school's cell feeds: from (file, sheet, cell) up to figure IDs and values, through
    the ОО and the municipality to the region's totals in its newest regional workbook."""
    sheet_title, cell = _split(cell_ref)
    codes = {s.title: s.code for s in load_catalogue().sheets}
    if sheet_title not in codes:
        raise NotAFigure(f"В отчёте ОО нет листа «{sheet_title}».")
    digest = hashlib.sha256(school_file.read_bytes()).hexdigest()
    with connect(database, read_only=True) as con:
        sub = queries.submission_of(con, digest)
        if sub is None:
            raise NotAFigure("Этот файл не поступал в svod (его контрольной суммы нет в хранилище).")
        rows = queries.published_figures_fed_by(con, digest, codes[sheet_title], cell)
    return {
        "sha256": digest,
        "school_id": sub[0],
        "period": sub[1],
        "version": sub[2],
        "verdict": sub[3],
        "superseded_by": sub[4],
        "cell": f"{sheet_title}!{cell}",
        "figures": [
            {
                "figure_id": r[0],
                "indicator": r[1],
                "title": BY_CODE[r[1]].title,
                "level": r[2],
                "entity": r[3],
                "value": r[4] if r[6] or r[4] is None else float(r[4]),
                "part": PART_RU[r[5]],
            }
            for r in rows
        ],
    }
