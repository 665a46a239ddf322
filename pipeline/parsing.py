"""Read a returned workbook cell by cell with python-calamine and type every value, keeping its address.

Columns are found by the hidden machine-code row (or, failing that, by their Russian labels), so a moved header
still reads. Every value keeps its sheet, row and column letter; a value that cannot be typed becomes an issue
with that address instead of a silent NaN. Russian conventions (comma decimals, NBSP separators, dd.mm.yyyy)
and the catalogue's accepted spellings are normalised here and counted.
"""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from contracts.catalogue import Column, load_catalogue, normal_key
from contracts.schemas import DTYPES
from pipeline.issues import Issue, issue
from pipeline.workbook import IDENTITY_SHEET, column_letter

HEADER_SCAN_ROWS = 12
_NUMBER_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_DATE_TEXT = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})(?:\s.*)?$")
_ISO_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_EXCEL_EPOCH = date(1899, 12, 30)
TOTALS = ("итого", "всего")


@dataclass
class ParsedSheet:
    code: str
    title: str
    letters: dict[str, str]          # column code -> Excel column letter
    frame: pd.DataFrame              # typed values; index = Excel row number
    raw: dict[tuple[int, str], object] = field(default_factory=dict)

    def cell(self, row: int, code: str) -> str:
        return f"{self.letters.get(code, 'A')}{row}"


@dataclass
class ParsedBook:
    identity: dict[str, str]
    sheets: dict[str, ParsedSheet]
    issues: list[Issue]
    normalised: int = 0
    skipped_rows: int = 0


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\u200b", "").replace("\u00a0", " ").strip()


def _number(value, integer: bool):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        number = float(value)
    else:
        number = float(_NUMBER_SPACES.sub("", str(value)).replace(",", "."))
    if integer:
        if not number.is_integer():
            raise ValueError
        return int(number)
    return number


def _date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and 20000 < value < 80000:
        return _EXCEL_EPOCH + timedelta(days=int(value))
    text = _text(value)
    if m := _DATE_TEXT.match(text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    if m := _ISO_TEXT.match(text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError


def convert(column: Column, value) -> tuple[object, bool]:
    """Typed value and whether a normalisation was needed; raises ValueError if the value cannot be typed."""
    if column.type == "int":
        return _number(value, True), isinstance(value, str)
    if column.type == "decimal":
        return _number(value, False), isinstance(value, str)
    if column.type == "date":
        return _date(value), not isinstance(value, date)
    text = _text(value)
    if column.type == "enum" and column.values:
        canonical = column.canonical(text)
        return (canonical, canonical != text) if canonical else (text, False)
    if column.type in ("multi-enum", "multi-ref"):
        parts = [p.strip() for p in re.split(r"[;,\n]", text) if p.strip()]
        if column.type == "multi-enum":
            parts = [column.canonical(p) or p for p in parts]
        joined = "; ".join(parts)
        return joined, joined != text
    if column.type in ("id", "ref") and text != text.upper():
        return text.upper(), True
    return text, text != value


def _find_header(rows: list[list], codes: set[str], labels: dict[str, str]) -> tuple[int, dict[str, int]] | None:
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


@dataclass
class SheetXmlFacts:
    hidden_rows: set[int] = field(default_factory=set)
    uncached_formulas: set[str] = field(default_factory=set)


_SHEET_ENTRY = re.compile(r'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL = re.compile(r'<Relationship\b[^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"|<Relationship\b[^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"')
_HIDDEN_ROW = re.compile(r'<row\b[^>]*?\br="(\d+)"[^>]*?\bhidden="(?:1|true)"')
_CELL = re.compile(r'<c\b[^>]*?\br="([A-Z]+\d+)"[^>]*?(?:/>|>(.*?)</c>)', re.S)


def sheet_xml_facts(path: Path) -> dict[str, SheetXmlFacts]:
    """Hidden rows and formulas saved without a value, per sheet title: what calamine does not report."""
    with zipfile.ZipFile(path) as z:
        book = z.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
        targets = {}
        for m in _REL.finditer(rels):
            rid, target = (m[1], m[2]) if m[1] else (m[4], m[3])
            targets[rid] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        facts = {}
        for m in _SHEET_ENTRY.finditer(book):
            part = targets.get(m[2])
            if not part or part not in z.namelist():
                continue
            xml = z.read(part).decode("utf-8", "replace")
            f = SheetXmlFacts(hidden_rows={int(r) for r in _HIDDEN_ROW.findall(xml)})
            for ref, inner in _CELL.findall(xml):
                if inner and "<f" in inner and not re.search(r"<v>[^<]+</v>", inner):
                    f.uncached_formulas.add(ref)
            facts[html.unescape(m[1])] = f
    return facts


def _identity(book: CalamineWorkbook) -> dict[str, str]:
    if IDENTITY_SHEET not in book.sheet_names:
        return {}
    return {_text(r[0]): _text(r[1]) for r in book.get_sheet_by_name(IDENTITY_SHEET).to_python() if len(r) > 1 and r[0]}


def read_identity(path: Path) -> dict[str, str]:
    """Only the key/value rows of the identity sheet (empty if there is none): cheap, for routing a file."""
    return _identity(CalamineWorkbook.from_path(str(path)))


def read_workbook(path: Path) -> ParsedBook:
    """Parse every catalogue sheet of a return that has passed the file pre-check."""
    catalogue = load_catalogue()
    book = CalamineWorkbook.from_path(str(path))
    names = set(book.sheet_names)
    identity = _identity(book)
    parsed = ParsedBook(identity=identity, sheets={}, issues=[])
    xml_facts = sheet_xml_facts(path)
    for sheet in catalogue.sheets:
        if sheet.title not in names:
            parsed.issues.append(issue("M07", sheet=sheet.code, sheet_title=sheet.title))
            continue
        grid = book.get_sheet_by_name(sheet.title)
        rows = grid.to_python(skip_empty_area=False)
        facts = xml_facts.get(sheet.title, SheetXmlFacts())
        codes = {c.code for c in sheet.columns}
        header = _find_header(rows, codes, {normal_key(c.label): c.code for c in sheet.columns})
        if header is None:
            parsed.issues.append(issue("M08", sheet=sheet.code, sheet_title=sheet.title, label="строка заголовков"))
            continue
        first, positions = header
        for c in sheet.columns:
            if c.code not in positions:
                parsed.issues.append(issue("M08", sheet=sheet.code, column=c.code, sheet_title=sheet.title, label=c.label))
        letters = {code: column_letter(i) for code, i in positions.items()}
        by_index = {i: code for code, i in positions.items()}
        for (r0, c0), (r1, c1) in grid.merged_cell_ranges or []:
            if r1 > r0 and r0 >= first and c0 in by_index and c0 == c1:  # one column merged down: fill it in
                for r in range(r0 + 1, r1 + 1):
                    while len(rows[r]) <= c0:
                        rows[r].append("")
                    rows[r][c0] = rows[r0][c0]
                parsed.issues.append(issue("C15", sheet=sheet.code, row=r0 + 1, column=by_index[c0],
                                           cell=f"{letters[by_index[c0]]}{r0 + 1}",
                                           value=f"{letters[by_index[c0]]}{r0 + 1}:{letters[by_index[c0]]}{r1 + 1}"))
        records, raw = {}, {}
        for r in range(first, len(rows)):
            row = rows[r]
            values = {code: row[i] if i < len(row) else None for code, i in positions.items()}
            present = {k: v for k, v in values.items() if v not in (None, "") and _text(v) != ""}
            if not present:
                continue
            excel_row = r + 1
            first_text = _text(next(iter(present.values())))
            if first_text.lower().startswith(TOTALS):
                parsed.skipped_rows += 1
                parsed.issues.append(issue("C16", sheet=sheet.code, row=excel_row, cell=f"A{excel_row}", value=first_text))
                continue
            if excel_row in facts.hidden_rows:
                parsed.issues.append(issue("C13", sheet=sheet.code, row=excel_row, cell=f"A{excel_row}", value=excel_row))
            for code, i in positions.items():
                ref = f"{column_letter(i)}{excel_row}"
                if ref in facts.uncached_formulas:
                    parsed.issues.append(issue("C14", sheet=sheet.code, row=excel_row, column=code, cell=ref))
                    present.pop(code, None)
            record = {}
            for code, value in present.items():
                column = sheet.column(code)
                raw[(excel_row, code)] = value
                try:
                    record[code], changed = convert(column, value)
                    parsed.normalised += changed and column.type in ("enum", "multi-enum", "int", "decimal", "date")
                except (ValueError, OverflowError):
                    rule = {"int": "C03", "decimal": "C04", "date": "C05"}[column.type]
                    parsed.issues.append(issue(rule, sheet=sheet.code, row=excel_row, column=code,
                                               cell=f"{letters[code]}{excel_row}", value=_text(value)))
            records[excel_row] = record
        frame = pd.DataFrame.from_dict(records, orient="index")
        frame = frame.reindex(columns=[c.code for c in sheet.columns])
        for c in sheet.columns:
            frame[c.code] = _typed(frame[c.code], c)
        parsed.sheets[sheet.code] = ParsedSheet(sheet.code, sheet.title, letters, frame, raw)
    return parsed


def _typed(series: pd.Series, column: Column) -> pd.Series:
    dtype = DTYPES.get(column.type, "object")
    if dtype == "datetime64[ns]":
        return pd.to_datetime(series, errors="coerce").astype(dtype)
    if dtype == "object":
        return series.astype(object).where(series.notna(), None)
    return pd.array(series.where(series.notna(), None).tolist(), dtype=dtype) if len(series) else series.astype(dtype)
