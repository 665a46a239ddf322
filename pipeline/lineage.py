"""Lineage queries: from a cell of a summary workbook down to the school files, sheets and cells it came from.

The workbook itself says which figure a cell shows (a link to its row on «Происхождение», or the regional
lineage row); the warehouse's figure_source table gives the exact source cells with file hash and version.
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl

from contracts.catalogue import load_catalogue
from pipeline import warehouse
from pipeline.indicators import BY_CODE, PART_RU

LINEAGE_SHEET = "Происхождение"
_LINK = re.compile(r"'?([^'!]+)'?!A(\d+)$")


PUBLISHED_RUNS = "SELECT run_id FROM published_run"


class NotAFigure(ValueError):
    pass


def _split(cell_ref: str) -> tuple[str, str]:
    if "!" not in cell_ref:
        raise NotAFigure(f"Укажите ячейку вместе с листом, например «Показатели по ОО!C7», а не «{cell_ref}».")
    sheet, cell = cell_ref.rsplit("!", 1)
    return sheet.strip("'"), cell.replace("$", "").upper()


def figure_id_at(workbook: Path, cell_ref: str) -> str:
    """The figure ID behind a summary cell."""
    sheet, cell = _split(cell_ref)
    wb = openpyxl.load_workbook(workbook, keep_links=False)
    if sheet not in wb.sheetnames:
        raise NotAFigure(f"В книге нет листа «{sheet}».")
    target = wb[sheet][cell]
    row = None
    if sheet == LINEAGE_SHEET:
        row = target.row
    elif target.hyperlink is not None and (m := _LINK.search(target.hyperlink.location or target.hyperlink.target or "")):
        row = int(m.group(2))
    elif "Показатели по МО" in wb.sheetnames and sheet == "Показатели по МО":
        return _regional_figure(wb, target)
    if row is None or row < 2:
        raise NotAFigure(f"Ячейка {sheet}!{cell} не содержит показателя сводки.")
    return str(wb[LINEAGE_SHEET].cell(row, 1).value)


def _regional_figure(wb, target) -> str:
    header = [c.value for c in wb["Показатели по МО"][3]]
    municipality = wb["Показатели по МО"].cell(target.row, 1).value
    indicator = str(header[target.column - 1] or "").split(" ")[0]
    for row in wb[LINEAGE_SHEET].iter_rows(min_row=2, values_only=True):
        if row[1] == BY_CODE.get(indicator, None).title if indicator in BY_CODE else False:
            if row[2] == municipality:
                return str(row[6])
    raise NotAFigure("Ячейка не содержит показателя региональной сводки.")


def explain(workbook: Path, cell_ref: str, database: Path | None) -> dict:
    figure_id = figure_id_at(workbook, cell_ref)
    indicator, level, entity, period, run_id = figure_id.split("|")
    answer = {"figure_id": figure_id, "indicator": indicator, "title": BY_CODE[indicator].title,
              "formula": BY_CODE[indicator].words, "level": level, "entity": entity, "period": period, "run_id": run_id,
              "value": None, "numerator": None, "denominator": None, "sources": []}
    if database is None:
        return answer
    titles = {s.code: s.title for s in load_catalogue().sheets}
    with warehouse.connect(database, read_only=True) as con:
        row = con.execute("SELECT value, numerator, denominator FROM figure WHERE figure_id = ?", [figure_id]).fetchone()
        if row:
            answer.update(value=row[0], numerator=row[1], denominator=row[2])
        for part, sha, school, sheet, cell, value, version in con.execute(
                "SELECT fs.part, fs.sha256, fs.school_id, fs.sheet, fs.cell, fs.value, s.version FROM figure_source fs "
                "LEFT JOIN submission s USING (sha256) WHERE fs.figure_id = ? ORDER BY fs.school_id, fs.part, fs.sheet, fs.cell",
                [figure_id]).fetchall():
            answer["sources"].append({"part": PART_RU[part], "sha256": sha, "school_id": school,
                                      "version": version, "sheet": titles[sheet], "cell": cell, "value": value})
    return answer


def impact(database: Path, school_file: Path, cell_ref: str) -> dict:
    """Every published figure a school's cell feeds: from (file, sheet, cell) up to figure IDs and values."""
    import hashlib

    sheet_title, cell = _split(cell_ref)
    codes = {s.title: s.code for s in load_catalogue().sheets}
    if sheet_title not in codes:
        raise NotAFigure(f"В отчёте ОО нет листа «{sheet_title}».")
    digest = hashlib.sha256(school_file.read_bytes()).hexdigest()
    with warehouse.connect(database, read_only=True) as con:
        sub = con.execute("SELECT school_id, period, version, verdict, superseded_by FROM submission WHERE sha256 = ?",
                          [digest]).fetchone()
        if sub is None:
            raise NotAFigure("Этот файл не поступал в svod (его контрольной суммы нет в хранилище).")
        rows = con.execute(
            "SELECT DISTINCT f.figure_id, f.indicator, f.level, f.entity, f.value, fs.part FROM figure_source fs "
            "JOIN figure f USING (figure_id) WHERE fs.sha256 = ? AND fs.sheet = ? AND fs.cell = ? "
            f"AND f.run_id IN ({PUBLISHED_RUNS}) ORDER BY f.level DESC, f.indicator",
            [digest, codes[sheet_title], cell]).fetchall()
    return {"sha256": digest, "school_id": sub[0], "period": sub[1], "version": sub[2], "verdict": sub[3],
            "superseded_by": sub[4], "cell": f"{sheet_title}!{cell}",
            "figures": [{"figure_id": r[0], "indicator": r[1], "title": BY_CODE[r[1]].title, "level": r[2],
                         "entity": r[3], "value": r[4], "part": PART_RU[r[5]]} for r in rows]}
