"""A workbook of one sheet of text written directly as its few XML parts, for receipts: xlsxwriter's fixed cost
per file (about 14 ms) would double what each school's answer costs, and a receipt needs only text in rows.
Every cell is an inline string (never a formula or a link); headings are bold, text wraps, pages are landscape.
Its cell writers also serve the annotated copy's «Ошибки» sheet and a summary's bulk rows (`Book.bulk_rows`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from pipeline.files import atomic_path
from pipeline.xlsx.school_layout import column_letter
from pipeline.xlsx.zipwrite import deflated_zip

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
STYLE = {"plain": 1, "bold": 2, "head": 3, "title": 4}  # cell format index by name (see STYLES)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not allowed in a cell's text
STYLES = (
    f'<styleSheet xmlns="{MAIN_NS}"><fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="14"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def xml_text(text) -> str:
    """A cell's text as it goes into the XML: control characters dropped, markup escaped."""
    return html.escape(CONTROL_CHARACTERS.sub("", str(text)), quote=False)


def shared_item(text: str) -> str:
    """One text of a shared strings part (control characters dropped)."""
    return f'<si><t xml:space="preserve">{xml_text(text)}</t></si>'


def inline(ref: str, text: str, style: int | None = None) -> str:
    """One cell holding `text` as an inline string (control characters dropped)."""
    s = f' s="{style}"' if style is not None else ""
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{xml_text(text)}</t></is></c>'


def number(ref: str, value: float, style: int | None = None) -> str:
    """One cell holding a number, printed as xlsxwriter prints it."""
    s = f' s="{style}"' if style is not None else ""
    return f'<c r="{ref}"{s}><v>{value:.16G}</v></c>'


def _lines(cells: list[str], widths: list[float]) -> int:
    """How many text lines the row's wrapped cells need (about 1.1 characters per unit of column width)."""
    return max([1, *(-(-len(str(v)) // int(w * 1.1)) for v, w in zip(cells, widths, strict=False) if v)])


def write_plain_book(path: Path, title: str, rows: list[tuple[str, list[str]]], widths: list[float]) -> Path:
    """A one-sheet workbook `title` of (style name, cells) rows, written atomically to `path`."""
    body = "".join(
        f'<row r="{r}" ht="{15 * _lines(cells, widths)}" customHeight="1">'
        + "".join(
            inline(f"{column_letter(c)}{r}", v, STYLE[style])
            for c, v in enumerate(cells)
            if v not in (None, "")
        )
        + "</row>"
        for r, (style, cells) in enumerate(rows, start=1)
    )
    cols = "".join(
        f'<col min="{c}" max="{c}" width="{w}" customWidth="1"/>' for c, w in enumerate(widths, start=1)
    )
    sheet = (
        f'<worksheet xmlns="{MAIN_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><sheetViews><sheetView '
        f'tabSelected="1" workbookViewId="0"/></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols>'
        f'<sheetData>{body}</sheetData><pageMargins left="0.4" right="0.4" top="0.5" bottom="0.5" header="0.3" '
        'footer="0.3"/><pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/></worksheet>'
    )
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{PACKAGE_RELS_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets><sheet name="{html.escape(title)}" '
        'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PACKAGE_RELS_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL_NS}/styles" '
        'Target="styles.xml"/></Relationships>',
        "xl/styles.xml": STYLES,
        "xl/worksheets/sheet1.xml": sheet,
    }
    with atomic_path(path) as tmp:
        tmp.write_bytes(deflated_zip({k: v.encode("utf-8") for k, v in parts.items()}))
    return path
