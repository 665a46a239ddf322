"""A deterministic, safe xlsxwriter workbook for svod's summaries, with the formats and the print setup they share.

Strings are always written as strings (never formulas or links), text gets a quote-prefix style so it stays
text when re-edited, control characters are stripped, document dates are fixed (the same inputs give the same
bytes), and the file appears under its name only when complete (`pipeline.files.atomic_path`).

Every sheet prints as a document: A4, landscape or portrait, its header rows (and, for wide tables, its first
columns) repeated on every page, a running head (whose summary, which period, the date of the data) and
«Стр. N из M». Figures print as figures: counts without decimals, shares with one decimal and «%».
"""

from __future__ import annotations

import html
import re
import zipfile
from contextlib import ExitStack
from datetime import datetime
from itertools import zip_longest
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import xlsxwriter
import xlsxwriter.exceptions

from pipeline.domain.figures import Unit
from pipeline.files import atomic_path
from pipeline.forked import Forked, spare_core
from pipeline.xlsx.plain_book import CONTROL_CHARACTERS, MAIN_NS, inline, number, shared_item
from pipeline.xlsx.school_layout import column_letter
from pipeline.xlsx.zipwrite import Packed, joined, packed, repack

FIXED_DOCUMENT_DATE = datetime(2025, 1, 1)
APART_FROM = 20_000  # rows of a sheet worked out by a forked child (a lineage sheet of about 200 ОО and more)
COUNT_FORMAT = "0"
SHARE_FORMAT = '0.0" %"'
NUMBER_FORMATS = {Unit.COUNT: COUNT_FORMAT, Unit.PERCENT: SHARE_FORMAT, Unit.MEAN: "0.0"}
CHANGE_FORMATS = {
    Unit.COUNT: "+0;-0;0",
    Unit.PERCENT: '+0.0" п.п.";-0.0" п.п.";0.0" п.п."',  # a share's change: points
    Unit.MEAN: "+0.0;-0.0;0.0",
}


def safe_text(value) -> str:
    """Text with control characters stripped; always written with write_string and a quote-prefix style."""
    return CONTROL_CHARACTERS.sub("", "" if value is None else str(value))


def _hf(text: str) -> str:
    """Text for a printed header or footer: its control character `&` doubled, within Excel's length limit."""
    return safe_text(text).replace("&", "&&")[:200]


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v  # not NaN


def wrapped_lines(texts: list[tuple[str, int]]) -> int:
    """How many lines the tallest of the texts wraps to, each given with its column's width in characters."""
    return max(-(-len(text) // width) for text, width in texts)


class _SharedPart(NamedTuple):
    """The sheet worked out apart: its rows deflated as a piece of its part, their links, its shared strings."""

    body: Packed
    links: str
    strings: Packed | None


class Cell(NamedTuple):
    """A cell of `Book.bulk_rows` in its own format (an xlsxwriter Format), linked to `link` when given."""

    value: object
    fmt: object = None
    link: str | None = None  # an in-workbook location, as `summary_layout.lineage_link` makes it


class Book:
    """An xlsxwriter workbook written to a temporary file and renamed into place by `close()`."""

    def __init__(self, path: Path, running_head: str = ""):
        self.path, self.running_head = path, running_head
        self._pending = ExitStack()
        self.tmp = self._pending.enter_context(atomic_path(path))
        self.wb = xlsxwriter.Workbook(
            str(self.tmp),
            {
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "constant_memory": True,
            },
        )
        self.wb.set_properties({"created": FIXED_DOCUMENT_DATE, "author": "svod"})
        self._bulk: dict[object, tuple[int, list[list], dict]] = {}  # sheet -> (first row, rows, heights)
        self._apart: dict[object, Forked | None] = {}  # sheets whose rows a child works out (None: here)

        def add(props: dict):
            return self.wb.add_format({"quote_prefix": True, **props})  # text stays text even when re-edited

        self.plain = add({})
        self.head = add(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
        )
        self.bold = add({"bold": True, "valign": "top"})
        self.title = add({"bold": True, "font_size": 14})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self._figure = {
            (unit, total): self.wb.add_format(
                {"num_format": fmt, **({"bold": True, "top": 1} if total else {})}
            )
            for unit, fmt in NUMBER_FORMATS.items()
            for total in (False, True)
        }
        self.centre = self.wb.add_format({"align": "center", "valign": "top"})
        self.when = self.wb.add_format({"num_format": "dd.mm.yyyy hh:mm", "align": "left", "valign": "top"})
        self.small = add({"font_size": 8, "font_color": "#595959"})
        self._change = {unit: self.wb.add_format({"num_format": fmt}) for unit, fmt in CHANGE_FORMATS.items()}
        self._against_target = {
            (met, unit): self.wb.add_format({"bg_color": "#C6EFCE" if met else "#FFC7CE", "num_format": fmt})
            for met in (True, False)
            for unit, fmt in NUMBER_FORMATS.items()
        }

    def change_format(self, unit: Unit):
        """How the change of a figure between periods prints: signed, a share's in percentage points."""
        return self._change[unit]

    def against_target(self, met: bool, unit: Unit):
        """A figure coloured by whether it meets its target."""
        return self._against_target[(met, unit)]

    def figure_format(self, unit: Unit, total: bool = False):
        """How a figure prints: a share with one decimal and «%», a mean with one decimal, a count as a whole
        number; a total in bold under a rule."""
        return self._figure[(unit, total)]

    def sheet(
        self,
        name: str,
        widths: list[int] | None = None,
        *,
        portrait: bool = False,
        header_row: int | None = None,
        repeat_columns: int = 0,
        pages_wide: int | None = 1,
        scale: int = 100,
    ):
        """A sheet set up for A4: `header_row` repeats on every page; with `pages_wide` None the sheet is not
        squeezed to a width but printed at `scale`, its first `repeat_columns` columns on every page."""
        ws = self.wb.add_worksheet(name)
        ws.set_portrait() if portrait else ws.set_landscape()
        ws.set_paper(9)
        if pages_wide:
            ws.fit_to_pages(pages_wide, 0)
        else:
            ws.set_print_scale(scale)
        ws.set_margins(0.4, 0.4, 0.6, 0.6)
        if header_row is not None:
            ws.repeat_rows(header_row)
        if repeat_columns:
            ws.repeat_columns(0, repeat_columns - 1)
        head = _hf(self.running_head)
        ws.set_header(f"&L&8{head}&R&8&A" if head else "&R&8&A")
        ws.set_footer("&C&8Стр. &P из &N")
        for i, w in enumerate(widths or []):
            ws.set_column(i, i, w)
        return ws

    def title_page(self, ws, rows: list[tuple[str, str]]) -> None:
        """Below a title: label and text rows (the text wrapped in a 62-wide column), then the signature block
        («Исполнитель», «Руководитель»)."""
        ws.set_column(0, 0, 30)
        ws.set_column(1, 1, 62)
        for r, (label, text) in enumerate(rows, start=2):
            self.text(ws, r, 0, label, self.bold)
            self.text(ws, r, 1, text, self.wrap)
            ws.set_row(r, 15 * (1 + len(text) // 60))
        r = len(rows) + 4
        for role in ("Исполнитель", "Руководитель"):
            self.text(ws, r, 0, role, self.bold)
            self.text(
                ws, r, 1, "____________________  /  ____________________  /   «___» __________ 20___ г."
            )
            self.text(
                ws,
                r + 1,
                1,
                "подпись                          расшифровка                        дата",
                self.small,
            )
            r += 3

    def wrapped_row(self, ws, r: int, texts: list[tuple[str, int]]) -> int:
        """Row `r` as tall as its tallest wrapped text, each given with its column's width in characters (no
        reader autofits rows written by xlsxwriter); returns its height in lines."""
        lines = wrapped_lines(texts)
        ws.set_row(r, 15 * lines)
        return lines

    def figure_cell(self, value, fmt, link: str | None = None, text_fmt=None) -> Cell:
        """A figure's cell, linked to `link` (its lineage row): the number in `fmt`, or a text in `text_fmt`
        («—» when there is none, «< 5» when it is hidden). For `bulk_rows`, or written by `linked_figure`."""
        if _is_number(value):
            return Cell(value, fmt, link)
        return Cell("—" if value is None else value, text_fmt or self.plain, link)

    def linked_figure(self, ws, r, c, value, fmt, link: str | None = None, text_fmt=None) -> None:
        """`figure_cell` written through xlsxwriter, for the few figures outside bulk rows."""
        cell = self.figure_cell(value, fmt, link, text_fmt)
        if link:
            ws.write_url(r, c, link, fmt, string="—")
        if _is_number(cell.value):
            ws.write_number(r, c, cell.value, cell.fmt)
        else:
            self.text(ws, r, c, cell.value, cell.fmt)

    def text(self, ws, r, c, value, fmt=None):
        ws.write_string(r, c, safe_text(value), fmt or self.plain)

    def table(
        self,
        ws,
        r0: int,
        header: list[str],
        rows: list[list],
        formats: dict | None = None,
        head_height: float | None = None,
    ):
        """A header row (`head_height` points tall, for wrapped headings) and rows; numbers as numbers (whole
        ones without decimals, or in `formats[column]`), dates and times as such, the rest as text."""
        formats = formats or {}
        if head_height:
            ws.set_row(r0, head_height)
        for c, h in enumerate(header):
            ws.write_string(r0, c, h, self.head)
        for r, row in enumerate(rows, start=r0 + 1):
            for c, v in enumerate(row):
                if _is_number(v):
                    ws.write_number(
                        r,
                        c,
                        v,
                        formats.get(c, self._figure[(Unit.COUNT, False)] if float(v).is_integer() else None),
                    )
                elif isinstance(v, datetime):
                    ws.write_datetime(r, c, v, formats.get(c, self.when))
                else:
                    self.text(
                        ws,
                        r,
                        c,
                        "" if v is None or (isinstance(v, float) and pd.isna(v)) else v,
                        formats.get(c),
                    )
        ws.freeze_panes(r0 + 1, 0)

    def bulk_rows(
        self, ws, r0: int, rows: list[list], heights: dict[int, float] | None = None, apart: bool = False
    ) -> None:
        """Rows from row `r0` to the sheet's end, written into the sheet's XML when the book closes: plain values
        formatted as `table` formats them, a `Cell` in its own format and link; `heights` in points by row.
        xlsxwriter spends about 8 µs a cell and more a link, which made the lineage sheet and the figure grids
        most of publishing. Write nothing else below `r0`.

        `apart`: the book's largest sheet (one at most), whose text goes to the book's shared strings: a lineage
        sheet repeats every indicator's title and formula for each ОО, and shared, they are a third of its bytes.
        From `APART_FROM` rows it is worked out, deflated and all, by a forked child while the caller goes on with
        the other sheets; the bytes are the same either way. Other bulk rows write their text inline."""
        for fmt in (self.plain, self._figure[(Unit.COUNT, False)]):
            fmt._get_xf_index()  # registered now, so the styles written at close hold them
        for row in rows:
            for cell in row:
                if type(cell) is Cell and cell.fmt is not None:
                    cell.fmt._get_xf_index()
        self._bulk[ws] = (r0, rows, heights or {})
        if apart:
            if self._apart:
                raise ValueError("only one sheet of a book is worked out apart")
            forked = len(rows) >= APART_FROM and spare_core()
            self._apart[ws] = Forked(self._shared_part, r0, rows, heights or {}) if forked else None

    def _shared_part(self, r0: int, rows: list[list], heights: dict[int, float]) -> _SharedPart:
        """The apart sheet's rows with their text in the shared strings, both deflated."""
        strings: dict[str, int] = {}
        body, links = self._bulk_xml(r0, rows, heights, strings)
        items = "".join(map(shared_item, strings))  # in order of index: a dict keeps insertion order
        table = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<sst xmlns="{MAIN_NS}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
        )
        return _SharedPart(
            packed(body.encode("utf-8"), final=False),
            links,
            packed(table.encode("utf-8")) if strings else None,
        )

    def _bulk_xml(
        self, r0: int, rows: list[list], heights: dict[int, float], strings: dict[str, int] | None
    ) -> tuple[str, str]:
        """(the rows' XML, their links' XML), worked out a column at a time. Text goes to the shared strings
        (`strings`: text -> its index, each distinct text escaped once), or inline where `strings` is None."""
        numbers = range(r0 + 1, r0 + len(rows) + 1)  # Excel counts rows from 1
        links: list[str] = []
        columns = [
            self._column_xml(column_letter(c), values, numbers, strings, links)
            for c, values in enumerate(zip_longest(*rows))
        ]
        out = []
        for r, cells in zip(
            numbers, zip(*columns, strict=True) if columns else [()] * len(rows), strict=True
        ):
            height = heights.get(r - 1)
            tall = f' ht="{height}" customHeight="1"' if height else ""
            out.append(f'<row r="{r}"{tall}>{"".join(cells)}</row>')
        return "".join(out), "".join(links)

    def _column_xml(
        self, letter: str, values: tuple, numbers: range, strings: dict[str, int] | None, links: list[str]
    ) -> list[str]:
        """Each cell of one column in XML ("" where it is blank), its links added to `links`: text in its
        format (plain by default), numbers in theirs (whole ones without decimals by default)."""
        plain, whole = self.plain._get_xf_index(), self._figure[(Unit.COUNT, False)]._get_xf_index()
        styles: list | tuple = (None,) * len(values)
        if not set(map(type, values)) <= {str, float, int, type(None)}:  # cells of their own format or link
            values, styles = self._unwrapped(letter, values, numbers, links)

        def cell(r: int, v, style: int | None) -> str:
            kind = type(v)
            if kind is float or kind is int or (kind is not str and _is_number(v)):
                if v != v:  # NaN
                    return ""
                return number(f"{letter}{r}", v, whole if style is None and float(v).is_integer() else style)
            if v is None or v != v or v == "":
                return ""
            text, s = v if kind is str else str(v), plain if style is None else style
            if strings is None:
                return inline(f"{letter}{r}", text, s)
            return f'<c r="{letter}{r}" t="s" s="{s}"><v>{strings.setdefault(text, len(strings))}</v></c>'

        return [cell(r, v, style) for r, v, style in zip(numbers, values, styles, strict=True)]

    @staticmethod
    def _unwrapped(letter: str, values: tuple, numbers: range, links: list[str]) -> tuple[list, list]:
        """(each cell's value, its format's index or None): a `Cell` gives its own, and its link to `links`."""
        plain_values, styles = [], []
        for r, v in zip(numbers, values, strict=True):
            style = None
            if type(v) is Cell:
                if v.link:
                    location = html.escape(v.link.removeprefix("internal:"))
                    links.append(f'<hyperlink ref="{letter}{r}" location="{location}"/>')
                v, style = v.value, v.fmt._get_xf_index() if v.fmt is not None else None
            plain_values.append(v)
            styles.append(style)
        return plain_values, styles

    def _write_bulk_rows(self) -> None:
        """Splice the bulk rows (and their links) into the written sheets, with the shared strings of the sheet
        worked out apart, copying every other part of the archive as it is."""
        data = self.tmp.read_bytes()
        with zipfile.ZipFile(self.tmp) as archive:
            infos = archive.infolist()
            changed: dict[str, bytes | Packed] = {}
            worksheets = [w for w in self.wb.worksheets() if not w.is_chartsheet]
            # the sheet worked out apart last: its child works on while the others are written
            for ws in sorted(self._bulk, key=lambda ws: ws in self._apart):
                r0, rows, heights = self._bulk[ws]
                part = f"xl/worksheets/sheet{worksheets.index(ws) + 1}.xml"
                xml = archive.read(part).decode("utf-8")
                width = max(map(len, rows), default=1)
                xml = re.sub(
                    r'<dimension ref="[^"]*"/>',
                    f'<dimension ref="A1:{column_letter(width - 1)}{r0 + len(rows)}"/>',
                    xml,
                    count=1,
                )
                if ws in self._apart:
                    forked = self._apart[ws]
                    shared = forked.result() if forked is not None else self._shared_part(r0, rows, heights)
                    body, links = shared.body, shared.links
                    if shared.strings is not None:
                        changed |= _shared_strings(archive, shared.strings)
                else:
                    text, links = self._bulk_xml(r0, rows, heights, None)
                    body = text.encode("utf-8")
                xml = xml.replace("<sheetData/>", "<sheetData></sheetData>", 1)  # a sheet with no other rows
                head, tail = xml.split("</sheetData>", 1)
                if links and "</hyperlinks>" in tail:
                    tail = tail.replace("</hyperlinks>", links + "</hyperlinks>", 1)
                elif links:  # before what follows hyperlinks in a worksheet (ECMA-376 order)
                    at = min(i for tag in ("<printOptions", "<pageMargins") if (i := tail.find(tag)) >= 0)
                    tail = f"{tail[:at]}<hyperlinks>{links}</hyperlinks>{tail[at:]}"
                pieces = [head.encode("utf-8"), body, f"</sheetData>{tail}".encode()]
                changed[part] = joined(pieces) if isinstance(body, Packed) else b"".join(pieces)
        # dated as the book's first part: the same inputs, the same bytes
        self.tmp.write_bytes(repack(data, infos, changed, dated_as_first=True))

    def close(self) -> Path:
        """Finish the temp file and rename it into place; on a write error the old file stays and the temp goes."""
        try:
            try:
                self.wb.close()
            except xlsxwriter.exceptions.FileCreateError as exc:
                raise (
                    exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))
                ) from exc
            if self._bulk:
                self._write_bulk_rows()
        except BaseException as exc:
            for forked in self._apart.values():
                if forked is not None:
                    forked.cancel()
            self._pending.__exit__(type(exc), exc, None)  # the temp file goes, the old file stays
            raise
        self._pending.close()
        return self.path


SHARED_STRINGS = "xl/sharedStrings.xml"
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SHARED_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _shared_strings(archive: zipfile.ZipFile, strings: Packed) -> dict[str, bytes | Packed]:
    """The shared strings part, with its content type and workbook relationship (a book written in xlsxwriter's
    constant-memory mode has none of its own)."""
    if SHARED_STRINGS in archive.namelist():
        raise OSError("the workbook already has shared strings")  # not in constant-memory mode: a bug here
    types = archive.read("[Content_Types].xml").decode("utf-8")
    types = types.replace(
        "</Types>", f'<Override PartName="/{SHARED_STRINGS}" ContentType="{SHARED_STRINGS_TYPE}"/></Types>', 1
    )
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    rels = rels.replace(
        "</Relationships>",
        f'<Relationship Id="rIdSharedStrings" Type="{SHARED_STRINGS_REL}" Target="sharedStrings.xml"/>'
        "</Relationships>",
        1,
    )
    return {
        SHARED_STRINGS: strings,
        "[Content_Types].xml": types.encode("utf-8"),
        "xl/_rels/workbook.xml.rels": rels.encode("utf-8"),
    }
