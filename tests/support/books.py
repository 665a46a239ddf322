"""Parsed books built from plain records, for testing rules without a workbook: every catalogue column present
(blank where a record leaves it out), data from row 3, columns in catalogue order."""

from __future__ import annotations

from datetime import date

from contracts.catalogue import load_catalogue
from pipeline.reference import load_reference
from pipeline.rules.context import Context
from pipeline.xlsx.reader import ParsedBook, ParsedSheet
from pipeline.xlsx.school_layout import FIRST_DATA_ROW, column_letter

MUNICIPALITY, PERIOD, SCHOOL = "arkhangelsk", "2025-Q4", "ARH-001"


def book(sheets: dict[str, list[dict]]) -> ParsedBook:
    parsed = {}
    for code, records in sheets.items():
        sheet = load_catalogue().sheet(code)
        codes = [c.code for c in sheet.columns]
        parsed[code] = ParsedSheet(
            code,
            sheet.title,
            {c: column_letter(i) for i, c in enumerate(codes)},
            list(range(FIRST_DATA_ROW, FIRST_DATA_ROW + len(records))),
            {c: [r.get(c) for r in records] for c in codes},
        )
    return ParsedBook(identity={"school_id": SCHOOL}, sheets=parsed, issues=[])


def context(sheets: dict[str, list[dict]], received: date = date(2025, 12, 20)) -> Context:
    m = load_reference().municipalities[MUNICIPALITY]
    return Context(book(sheets), m, m.period(PERIOD), received)
