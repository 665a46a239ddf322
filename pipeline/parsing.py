"""Read a returned workbook cell by cell with python-calamine and type every value, keeping its address.

Columns are found by the hidden machine-code row (or, failing that, by their Russian labels), so a moved header
still reads. Every value keeps its sheet, row and column letter; a value that cannot be typed becomes an issue
with that address instead of a silent NaN. Russian conventions (comma decimals, NBSP separators, dd.mm.yyyy)
and the catalogue's accepted spellings are normalised here and counted.

A sheet is kept column by column as plain Python lists (no DataFrame per file): returns are small and many, so
per-file work stays in plain Python and pandas is used once per batch (`contracts.schemas.typed_frame`).
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from itertools import chain
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from contracts.catalogue import Column, load_catalogue, normal_key
from contracts.schemas import typed_frame
from pipeline.issues import Issue, issue
from pipeline.precheck import member
from pipeline.workbook import IDENTITY_SHEET, column_letter

HEADER_SCAN_ROWS = 12
_NUMBER_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_DATE_TEXT = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})(?:\s.*)?$")
_ISO_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_EXCEL_EPOCH = date(1899, 12, 30)
TOTALS = ("итого", "всего")
TYPING_RULE = {"int": "C03", "decimal": "C04", "date": "C05"}
NORMALISED_KINDS = {"enum", "multi-enum", "int", "decimal", "date"}  # spellings counted as normalised


def show(value) -> str:
    """A typed value as a curator would type it (for messages)."""
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class ParsedSheet:
    code: str
    title: str
    letters: dict[str, str]                  # column code -> Excel column letter
    rows: list[int]                          # Excel row number of each record
    values: dict[str, list]                  # column code -> typed value per record (None = blank)

    def cell(self, row: int, code: str) -> str:
        return f"{self.letters.get(code, 'A')}{row}"

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def records(self) -> list[dict]:
        """One dict per record, with its Excel row under "_row"."""
        keys = ["_row", *self.values]
        return [dict(zip(keys, vals, strict=True)) for vals in zip(self.rows, *self.values.values(), strict=True)]

    @cached_property
    def by_row(self) -> dict[int, dict]:
        return {rec["_row"]: rec for rec in self.records}

    def value(self, row: int, code: str):
        return self.by_row[row].get(code)

    def at(self, rule: str, row: int, column: str, **params) -> Issue:
        """The rule applied at one cell; `value` defaults to what the cell holds."""
        value = params.pop("value", show(self.value(row, column)) if column in self.values else None)
        return issue(rule, sheet=self.code, row=row, column=column, cell=self.cell(row, column), value=value, **params)

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


MEMO_LIMIT = 4096  # distinct spellings remembered per column


@cache
def converter(sheet: str, code: str) -> Callable[[object], tuple[object, bool]]:
    """`convert` for one catalogue column, with the common cases short-cut and text conversions remembered."""
    column = load_catalogue().sheet(sheet).column(code)
    if column.type == "int":
        def to_int(value):
            if type(value) is float and value.is_integer():
                return int(value), False
            return convert(column, value)
        return to_int
    if column.type == "decimal":
        return lambda value: (value, False) if type(value) is float else convert(column, value)
    if column.type == "date":
        return lambda value: (value.date(), False) if type(value) is datetime else convert(column, value)
    memo: dict[str, tuple[object, bool]] = {}

    def to_text(value):
        if type(value) is not str:  # a number or date in a text column: rare, not remembered
            return convert(column, value)
        found = memo.get(value)
        if found is None:
            found = convert(column, value)
            if len(memo) < MEMO_LIMIT:
                memo[value] = found
        return found
    return to_text


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


_ATTRIBUTE = re.compile(r"""([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
SHARED_PARTS = ("_rels/.rels", "xl/sharedStrings.xml", "xl/styles.xml")  # where the workbook is; every sheet's text and formats
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_FORMULA = re.compile(rb"<f[\s>/]")
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]+\d+)"[^>]*?(?:/>|>(.*?)</c>)', re.S)
_CACHED_VALUE = re.compile(rb"<v>[^<]+</v>")


def _hidden_rows(xml: bytes) -> set[int]:
    """Rows marked hidden: found from each `hidden="` back to its tag, not by scanning every row."""
    rows, at = set(), xml.find(b'hidden="')
    while at != -1:
        tag = xml[xml.rfind(b"<", 0, at):xml.find(b">", at)]
        if tag.startswith(b"<row") and (b'hidden="1"' in tag or b'hidden="true"' in tag) and (m := _ROW_NUMBER.search(tag)):
            rows.add(int(m[1]))
        at = xml.find(b'hidden="', at + 1)
    return rows


def value_parts(data: bytes, titles: set[str]) -> tuple[bytes, dict[str, SheetXmlFacts]]:
    """The parts values are read from (package and workbook relationships, workbook, shared strings, styles and
    the sheets named in `titles`), inflated once and re-packed uncompressed for calamine; and, by sheet title,
    what calamine does not report (hidden rows, formulas saved without a value).

    Each part is checked against its CRC here, which calamine does not do: a damaged part raises
    zipfile.BadZipFile. Cells are scanned only in a sheet with formulas."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = {i.filename: i for i in z.infolist()}
        parts: dict[str, tuple[bytes, int]] = {}

        def part(name: str) -> bytes:
            inflated = member(data, infos[name], z)
            parts[name] = (inflated, infos[name].CRC)
            return inflated

        book, rels = part("xl/workbook.xml").decode("utf-8", "replace"), part(WORKBOOK_RELS).decode("utf-8", "replace")
        for shared in SHARED_PARTS:
            if shared in infos:
                part(shared)
        targets = {}
        for rel in _elements(rels, "Relationship"):
            target = rel.get("Target", "")
            targets[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        facts = {}
        for entry in _elements(book, "sheet"):
            title, name = entry.get("name"), targets.get(entry.get("id"))  # r:id, whatever its prefix
            if name not in infos or title not in titles:
                continue
            xml = part(name)
            f = facts[title] = SheetXmlFacts(hidden_rows=_hidden_rows(xml))
            if _FORMULA.search(xml):
                for ref, inner in _CELL.findall(xml):
                    if inner and _FORMULA.search(inner) and not _CACHED_VALUE.search(inner):
                        f.uncached_formulas.add(ref.decode())
    return stored_zip(parts), facts


def _elements(xml: str, tag: str) -> Iterator[dict[str, str]]:
    """Each `tag` element's attributes by local name, unescaped, whatever the prefixes and attribute order."""
    for m in re.finditer(rf"<(?:[\w.-]+:)?{tag}\b([^>]*)>", xml):
        yield {key.rpartition(":")[2]: html.unescape(a or b) for key, a, b in _ATTRIBUTE.findall(m[1])}


_UTF8_NAMES = 0x800  # zip flag: names are UTF-8
_JAN_1_1980 = 0x21  # the earliest DOS date a zip entry can carry


def stored_zip(parts: dict[str, tuple[bytes, int]]) -> bytes:
    """A zip archive of (inflated bytes, CRC-32) by name, stored without compression."""
    chunks, directory, offset = [], [], 0
    for name, (payload, crc) in parts.items():
        encoded, size = name.encode(), len(payload)
        chunks += [struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, _UTF8_NAMES, 0, 0, _JAN_1_1980, crc, size, size,
                               len(encoded), 0), encoded, payload]
        directory += [struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, _UTF8_NAMES, 0, 0, _JAN_1_1980, crc, size,
                                  size, len(encoded), 0, 0, 0, 0, 0, offset), encoded]
        offset += 30 + len(encoded) + size
    listing = b"".join(directory)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(listing), offset, 0)
    return b"".join([*chunks, listing, end])


def _identity(book: CalamineWorkbook) -> dict[str, str]:
    if IDENTITY_SHEET not in book.sheet_names:
        return {}
    return {_text(r[0]): _text(r[1]) for r in book.get_sheet_by_name(IDENTITY_SHEET).to_python() if len(r) > 1 and r[0]}


def read_identity(path: Path, data: bytes | None = None) -> dict[str, str]:
    """Only the key/value rows of the identity sheet (empty if there is none): cheap, for routing a file.
    `data`: its bytes, if read."""
    return _identity(CalamineWorkbook.from_path(str(path)) if data is None else CalamineWorkbook.from_filelike(io.BytesIO(data)))


def read_workbook(path: Path, data: bytes | None = None) -> ParsedBook:
    """Parse every catalogue sheet of a return that has passed the file pre-check (`data`: its bytes, if read)."""
    catalogue = load_catalogue()
    data = path.read_bytes() if data is None else data
    titles = {IDENTITY_SHEET, *(s.title for s in catalogue.sheets)}
    archive, xml_facts = value_parts(data, titles)
    book = CalamineWorkbook.from_filelike(io.BytesIO(archive))
    names = set(book.sheet_names)
    if names & (titles - xml_facts.keys()):  # a sheet's part named in a way not followed here: read the original
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    parsed = ParsedBook(identity=_identity(book), sheets={}, issues=[])
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
        parsed.issues.append(issue("M08", sheet=sheet.code, sheet_title=sheet.title, label="строка заголовков"))
        return None
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
            letter = letters[by_index[c0]]
            parsed.issues.append(issue("C15", sheet=sheet.code, row=r0 + 1, column=by_index[c0], cell=f"{letter}{r0 + 1}",
                                       value=f"{letter}{r0 + 1}:{letter}{r1 + 1}"))
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
        present = [(k, v) for k, i in found if (v := row[i]) != "" and v is not None and (
            type(v) is not str or not v.isspace() and ("\u200b" not in v or v.replace("\u200b", "").strip()))]
        if not present:
            continue
        excel_row = r + 1
        if type(lead := present[0][1]) is str and (lead_text := _text(lead)).lower().startswith(TOTALS):
            parsed.skipped_rows += 1
            parsed.issues.append(issue("C16", sheet=sheet.code, row=excel_row, cell=f"A{excel_row}", value=lead_text))
            continue
        if excel_row in facts.hidden_rows:
            parsed.issues.append(issue("C13", sheet=sheet.code, row=excel_row, cell=f"A{excel_row}", value=excel_row))
        if facts.uncached_formulas:
            present = _drop_uncached_formulas(present, codes, letters, excel_row, facts, sheet.code, parsed)
        record = [None] * len(codes)
        for k, value in present:
            try:
                record[k], changed = convert_to[k](value)
            except (ValueError, OverflowError):
                parsed.issues.append(issue(TYPING_RULE.get(sheet.columns[k].type), sheet=sheet.code, row=excel_row,
                                           column=codes[k], cell=f"{letters[codes[k]]}{excel_row}", value=_text(value)))
                continue
            if changed and counted[k]:
                parsed.normalised += 1
        rows_out.append(excel_row)
        records.append(record)
    values = dict(zip(codes, map(list, zip(*records, strict=True)), strict=True)) if records else {code: [] for code in codes}
    return ParsedSheet(sheet.code, sheet.title, letters, rows_out, values)


def _drop_uncached_formulas(present: list[tuple], codes: list[str], letters: dict[str, str], excel_row: int,
                            facts: SheetXmlFacts, sheet: str, parsed: ParsedBook) -> list[tuple]:
    """A formula saved without its value is reported (C14) and read as blank."""
    formulas = {code for code, letter in letters.items() if f"{letter}{excel_row}" in facts.uncached_formulas}
    for code in formulas:
        parsed.issues.append(issue("C14", sheet=sheet, row=excel_row, column=code, cell=f"{letters[code]}{excel_row}"))
    return [cell for cell in present if codes[cell[0]] not in formulas] if formulas else present
