"""Read a returned workbook cell by cell with python-calamine and type every value, keeping its address.

Columns are found by the hidden machine-code row (or, failing that, by their Russian labels), so a moved header
still reads. Every value keeps its sheet, row and column letter; a value that cannot be typed becomes an issue
with that address instead of a silent NaN. Values are typed by `pipeline.xlsx.values` (Russian conventions,
the catalogue's accepted spellings), and normalisations are counted.

A sheet is kept column by column as plain Python lists (no DataFrame per file): returns are small and many, so
per-file work stays in plain Python and pandas is used once per batch (`contracts.schemas.typed_frame`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import chain
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from contracts.catalogue import load_catalogue, normal_key
from contracts.schemas import typed_frame
from pipeline.domain.issues import Issue, issue
from pipeline.xlsx.container import SheetXmlFacts, value_parts
from pipeline.xlsx.school_layout import IDENTITY_SHEET, column_letter
from pipeline.xlsx.values import converter, show, text_of

HEADER_SCAN_ROWS = 12
TOTALS = ("итого", "всего")
TYPING_RULE = {"int": "C03", "decimal": "C04", "date": "C05"}
NORMALISED_KINDS = {"enum", "multi-enum", "int", "decimal", "date"}  # spellings counted as normalised


@dataclass
class ParsedSheet:
    code: str
    title: str
    letters: dict[str, str]  # column code -> Excel column letter
    rows: list[int]  # Excel row number of each record
    values: dict[str, list]  # column code -> typed value per record (None = blank)

    def cell(self, row: int, code: str) -> str:
        return f"{self.letters.get(code, 'A')}{row}"

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def records(self) -> list[dict]:
        """One dict per record, with its Excel row under "_row"."""
        keys = ["_row", *self.values]
        return [
            dict(zip(keys, vals, strict=True)) for vals in zip(self.rows, *self.values.values(), strict=True)
        ]

    @cached_property
    def by_row(self) -> dict[int, dict]:
        return {rec["_row"]: rec for rec in self.records}

    def value(self, row: int, code: str):
        return self.by_row[row].get(code)

    def at(self, rule: str, row: int, column: str, **params) -> Issue:
        """The rule applied at one cell; `value` defaults to what the cell holds."""
        value = params.pop("value", show(self.value(row, column)) if column in self.values else None)
        return issue(
            rule, sheet=self.code, row=row, column=column, cell=self.cell(row, column), value=value, **params
        )

    def drop(self, rows: set[int]) -> None:
        keep = [i for i, r in enumerate(self.rows) if r not in rows]
        self.rows = [self.rows[i] for i in keep]
        self.values = {code: [vals[i] for i in keep] for code, vals in self.values.items()}
        for cached in _VIEWS:
            self.__dict__.pop(cached, None)

    def __getstate__(self) -> dict:
        """Sent between processes without its derived views (they are rebuilt on demand, and cost more to ship)."""
        return {k: v for k, v in self.__dict__.items() if k not in _VIEWS}

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The typed DataFrame (index = Excel row), for callers that want pandas."""
        return typed_frame(self.code, self.values, self.rows)


_VIEWS = ("records", "by_row", "frame")  # ParsedSheet's cached views of its columns


def stacked(sheets: list[ParsedSheet], code: str) -> list:
    """One column of many parsed sheets, end to end (for batch validation and loading)."""
    return list(chain.from_iterable([s.values[code] for s in sheets]))


@dataclass
class ParsedBook:
    identity: dict[str, str]
    sheets: dict[str, ParsedSheet]
    issues: list[Issue]
    normalised: int = 0
    skipped_rows: int = 0

    def column(self, sheet: str, code: str) -> list:
        """One column's typed values (empty if the sheet is missing)."""
        s = self.sheets.get(sheet)
        return s.values.get(code, []) if s is not None else []


def _find_header(
    rows: list[list], codes: set[str], labels: dict[str, str]
) -> tuple[int, dict[str, int]] | None:
    """(0-based row index of the first data row, code -> column index), by code row or else by labels."""
    for by_code in (True, False):
        for r, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            found = {}
            for c, value in enumerate(row):
                if value in (None, ""):
                    continue
                key = str(value).strip() if by_code else labels.get(normal_key(str(value).rstrip(" *")))
                if key in codes:
                    found[key] = c
            if len(found) >= max(1, len(codes) // 2):
                return r + (1 if by_code else 2 if _next_is_codes(rows, r, codes) else 1), found
    return None


def _next_is_codes(rows, r, codes) -> bool:
    return r + 1 < len(rows) and any(str(v).strip() in codes for v in rows[r + 1] if v is not None)


def identity_of(book: CalamineWorkbook) -> dict[str, str]:
    if IDENTITY_SHEET not in book.sheet_names:
        return {}
    return {
        text_of(r[0]): text_of(r[1])
        for r in book.get_sheet_by_name(IDENTITY_SHEET).to_python()
        if len(r) > 1 and r[0]
    }


def read_identity(path: Path, data: bytes | None = None) -> dict[str, str]:
    """Only the key/value rows of the identity sheet (empty if there is none): cheap, for routing a file.
    `data`: its bytes, if read."""
    return identity_of(
        CalamineWorkbook.from_path(str(path))
        if data is None
        else CalamineWorkbook.from_filelike(io.BytesIO(data))
    )


def read_workbook(path: Path, data: bytes | None = None) -> ParsedBook:
    """Parse every catalogue sheet of a return that has passed the file pre-check (`data`: its bytes, if read)."""
    catalogue = load_catalogue()
    data = path.read_bytes() if data is None else data
    titles = {IDENTITY_SHEET, *(s.title for s in catalogue.sheets)}
    archive, xml_facts = value_parts(data, titles)
    book = CalamineWorkbook.from_filelike(io.BytesIO(archive))
    names = set(book.sheet_names)
    if names & (titles - xml_facts.keys()):
        # a sheet's part named in a way not followed here: read the original
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    parsed = ParsedBook(identity=identity_of(book), sheets={}, issues=[])
    for sheet in catalogue.sheets:
        if sheet.title not in names:
            parsed.issues.append(issue("M07", sheet=sheet.code, sheet_title=sheet.title))
            continue
        grid = book.get_sheet_by_name(sheet.title)
        read = _read_sheet(sheet, grid, xml_facts.get(sheet.title, SheetXmlFacts()), parsed)
        if read is not None:
            parsed.sheets[sheet.code] = read
    return parsed


@cache
def _labels(sheet: str) -> dict[str, str]:
    """Normalised Russian label -> column code, for finding a header that lost its code row."""
    return {normal_key(c.label): c.code for c in load_catalogue().sheet(sheet).columns}


def _read_sheet(sheet, grid, facts: SheetXmlFacts, parsed: ParsedBook) -> ParsedSheet | None:
    rows = grid.to_python(skip_empty_area=False)
    codes = {c.code for c in sheet.columns}
    header = _find_header(rows, codes, _labels(sheet.code))
    if header is None:
        parsed.issues.append(
            issue("M08", sheet=sheet.code, sheet_title=sheet.title, label="строка заголовков")
        )
        return None
    first, positions = header
    for c in sheet.columns:
        if c.code not in positions:
            parsed.issues.append(
                issue("M08", sheet=sheet.code, column=c.code, sheet_title=sheet.title, label=c.label)
            )
    letters = {code: column_letter(i) for code, i in positions.items()}
    by_index = {i: code for code, i in positions.items()}
    for (r0, c0), (r1, c1) in grid.merged_cell_ranges or []:
        if r1 > r0 and r0 >= first and c0 in by_index and c0 == c1:  # one column merged down: fill it in
            for r in range(r0 + 1, r1 + 1):
                while len(rows[r]) <= c0:
                    rows[r].append("")
                rows[r][c0] = rows[r0][c0]
            letter = letters[by_index[c0]]
            parsed.issues.append(
                issue(
                    "C15",
                    sheet=sheet.code,
                    row=r0 + 1,
                    column=by_index[c0],
                    cell=f"{letter}{r0 + 1}",
                    value=f"{letter}{r0 + 1}:{letter}{r1 + 1}",
                )
            )
    codes = [c.code for c in sheet.columns]
    found = [(k, positions[c.code]) for k, c in enumerate(sheet.columns) if c.code in positions]
    convert_to = [converter(sheet.code, code) for code in codes]
    counted = [c.type in NORMALISED_KINDS for c in sheet.columns]
    reach = max((i for _, i in found), default=-1) + 1
    rows_out: list[int] = []
    records: list[list] = []
    for r in range(first, len(rows)):
        row = rows[r]
        if len(row) < reach:
            row = row + [""] * (reach - len(row))
        # the filled cells: not empty, not only spaces or zero-width spaces
        present = [
            (k, v)
            for k, i in found
            if (v := row[i]) != ""
            and v is not None
            and (
                type(v) is not str
                or not v.isspace()
                and ("\u200b" not in v or v.replace("\u200b", "").strip())
            )
        ]
        if not present:
            continue
        excel_row = r + 1
        if type(lead := present[0][1]) is str and (lead_text := text_of(lead)).lower().startswith(TOTALS):
            parsed.skipped_rows += 1
            parsed.issues.append(
                issue("C16", sheet=sheet.code, row=excel_row, cell=f"A{excel_row}", value=lead_text)
            )
            continue
        if excel_row in facts.hidden_rows:
            parsed.issues.append(
                issue("C13", sheet=sheet.code, row=excel_row, cell=f"A{excel_row}", value=excel_row)
            )
        if facts.uncached_formulas:
            present = _drop_uncached_formulas(present, codes, letters, excel_row, facts, sheet.code, parsed)
        record = [None] * len(codes)
        for k, value in present:
            try:
                record[k], changed = convert_to[k](value)
            except (ValueError, OverflowError):
                parsed.issues.append(
                    issue(
                        TYPING_RULE.get(sheet.columns[k].type),
                        sheet=sheet.code,
                        row=excel_row,
                        column=codes[k],
                        cell=f"{letters[codes[k]]}{excel_row}",
                        value=text_of(value),
                    )
                )
                continue
            if changed and counted[k]:
                parsed.normalised += 1
        rows_out.append(excel_row)
        records.append(record)
    values = (
        dict(zip(codes, map(list, zip(*records, strict=True)), strict=True))
        if records
        else {code: [] for code in codes}
    )
    return ParsedSheet(sheet.code, sheet.title, letters, rows_out, values)


def _drop_uncached_formulas(
    present: list[tuple],
    codes: list[str],
    letters: dict[str, str],
    excel_row: int,
    facts: SheetXmlFacts,
    sheet: str,
    parsed: ParsedBook,
) -> list[tuple]:
    """A formula saved without its value is reported (C14) and read as blank."""
    formulas = {code for code, letter in letters.items() if f"{letter}{excel_row}" in facts.uncached_formulas}
    for code in formulas:
        parsed.issues.append(
            issue("C14", sheet=sheet, row=excel_row, column=code, cell=f"{letters[code]}{excel_row}")
        )
    return [cell for cell in present if codes[cell[0]] not in formulas] if formulas else present
