"""The annotated copy made by patching the school's own file: only the parts that carry the annotation change.

What is patched: the styles (one new fill per severity and one new cell format per flagged cell's own format,
so number formats, fonts and borders survive), the flagged cells' style attributes (a cell that is absent is
inserted), a comments part with its VML drawing and relationships per flagged sheet, the content types, the
workbook (a new first sheet «Ошибки», made the active one) and the sheet that was active before (so two tabs
are not selected at once). Every other part is copied from the school's archive byte for byte, compressed
bytes included. What this module cannot patch safely (existing notes, prefixed XML, zip64, a sheet already
called «Ошибки») raises `CannotPatch`, and the caller falls back to re-writing the file with openpyxl.
"""

from __future__ import annotations

import html
import io
import re
import zipfile

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue, by_sheet
from pipeline.domain.vocabulary import Severity
from pipeline.xlsx.package import (
    MAIN_NS,
    PACKAGE_RELS_NS,
    REL_NS,
    CannotPatch,
    Package,
    add_content_types,
    attrs,
    check_well_formed,
    free_id,
    free_name,
    rels_part,
    sheet_parts,
)
from pipeline.xlsx.plain_book import inline
from pipeline.xlsx.school_layout import column_index, column_letter
from pipeline.xlsx.zipwrite import repack

ISSUES_SHEET = "Ошибки"
FILL_RGB = {Severity.ERROR: "FFFFC7CE", Severity.WARNING: "FFFFEB9C"}
COMMENTS_TYPE = REL_NS + "/comments"
VML_TYPE = REL_NS + "/vmlDrawing"
SHEET_TYPE = REL_NS + "/worksheet"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
SHEET_HEAD_BYTES = 16384  # enough of a sheet's part to hold what precedes its cells (views, columns)
# worksheet children that must follow <legacyDrawing> (ECMA-376 order): insert before the first present
AFTER_LEGACY_DRAWING = (
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)
_CELL_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")


def patch(data: bytes, issues: list[Issue]) -> bytes:
    """The school's workbook with its flagged cells marked and an «Ошибки» sheet; raises CannotPatch."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if any(
            i.file_size > 0xFFFFFFFF or i.compress_size > 0xFFFFFFFF or i.header_offset > 0xFFFFFFFF
            for i in infos
        ):
            raise CannotPatch("zip64")
        pkg = Package(data, infos, archive)
        sheets = sheet_parts(pkg)
        if ISSUES_SHEET in sheets:
            raise CannotPatch("the file already has an «Ошибки» sheet")
        flagged = _flagged(issues, sheets)
        styles = Styles(pkg.read("xl/styles.xml"))
        for title, cells in flagged.items():
            _mark_cells(pkg, sheets[title], cells, styles)
            _add_comments(pkg, sheets[title], cells)
        pkg.write("xl/styles.xml", styles.xml())
        _add_issues_sheet(pkg, issues)
        for name, payload in pkg.changed.items():
            check_well_formed(name, payload)
        try:
            return repack(pkg.data, pkg.infos, pkg.changed)
        except ValueError as exc:
            raise CannotPatch(str(exc)) from exc


# --- where things are ------------------------------------------------------------------------------------------


def _flagged(issues: list[Issue], sheets: dict[str, str]) -> dict[str, dict[str, list[Issue]]]:
    """Sheet title -> cell -> its issues, for issues at a cell of a sheet the file has."""
    catalogue, found = load_catalogue(), {}
    for i in issues:
        if i.sheet and i.cell and (title := catalogue.sheet(i.sheet).title) in sheets:
            if not _CELL_REF.match(i.cell):
                raise CannotPatch(f"cell {i.cell}")
            found.setdefault(title, {}).setdefault(i.cell, []).append(i)
    return found


def _worst(found: list[Issue]) -> Severity:
    return Severity.ERROR if any(i.severity is Severity.ERROR for i in found) else Severity.WARNING


# --- styles ----------------------------------------------------------------------------------------------------


class Styles:
    """The styles part with new fills and cell formats appended: a flagged cell keeps its own format, with a fill."""

    def __init__(self, text: str):
        if not re.search(rf'<styleSheet\b[^>]*\sxmlns="{MAIN_NS}"', text):
            raise CannotPatch("the styles part is prefixed")
        self.text = text
        self.xfs = self._children("cellXfs", "xf")
        self.fills = len(self._children("fills", "fill"))
        self.new_fills: dict[Severity, int] = {}
        self.new_xfs: dict[tuple[int, Severity], int] = {}
        self.added_fills: list[str] = []
        self.added_xfs: list[str] = []

    def _children(self, parent: str, child: str) -> list[str]:
        m = re.search(rf"<{parent}\b[^>]*>(.*?)</{parent}>", self.text, re.S)
        if not m:
            raise CannotPatch(f"no <{parent}>")
        return re.findall(rf"<{child}\b[^>]*/>|<{child}\b[^>]*>.*?</{child}>", m.group(1), re.S)

    def flagged(self, xf: int, severity: Severity) -> int:
        """The index of a cell format like `xf`, filled for `severity`."""
        if (xf, severity) not in self.new_xfs:
            if severity not in self.new_fills:
                self.new_fills[severity] = self.fills + len(self.added_fills)
                self.added_fills.append(
                    f'<fill><patternFill patternType="solid"><fgColor rgb="{FILL_RGB[severity]}"/>'
                    '<bgColor indexed="64"/></patternFill></fill>'
                )
            base = self.xfs[xf] if xf < len(self.xfs) else self.xfs[0]
            head = re.match(r"<xf\b[^>]*?(/?)>", base)
            attrs = re.sub(
                r'\s(fillId|applyFill)="[^"]*"', "", head.group(0)[3 : -2 if head.group(1) else -1]
            )
            tag = f'<xf{attrs} fillId="{self.new_fills[severity]}" applyFill="1"'
            self.new_xfs[(xf, severity)] = len(self.xfs) + len(self.added_xfs)
            self.added_xfs.append(tag + ("/>" if head.group(1) else ">" + base[len(head.group(0)) :]))
        return self.new_xfs[(xf, severity)]

    def xml(self) -> str:
        text = self.text
        for parent, added, total in (
            ("fills", self.added_fills, self.fills),
            ("cellXfs", self.added_xfs, len(self.xfs)),
        ):
            if added:
                text = re.sub(
                    rf"(<{parent}\b[^>]*?)(\s+count=\"\d+\")?(\s*>)",
                    lambda m, n=total + len(added): f'{m.group(1)} count="{n}"{m.group(3)}',
                    text,
                    count=1,
                )
                text = text.replace(f"</{parent}>", "".join(added) + f"</{parent}>", 1)
        return text


# --- flagged cells ---------------------------------------------------------------------------------------------


def _base_format(sheet: str, row_tag: str | None, column: int) -> int:
    """The format an absent cell shows: its row's, if the row has one, else its column's, else the default."""
    if row_tag and 'customFormat="1"' in row_tag and (m := re.search(r'\ss="(\d+)"', row_tag)):
        return int(m.group(1))
    for tag in re.findall(r"<col\b[^>]*>", sheet):
        a = attrs(tag)
        if int(a.get("min", 0)) <= column <= int(a.get("max", 0)) and "style" in a:
            return int(a["style"])
    return 0


def _mark_cells(pkg: Package, part: str, cells: dict[str, list[Issue]], styles: Styles) -> None:
    sheet = pkg.read(part)
    if not re.search(rf'<worksheet\b[^>]*\sxmlns="{MAIN_NS}"', sheet):
        raise CannotPatch(f"{part} is prefixed")
    rows: dict[int, list[tuple[int, str, Issue]]] = {}
    for ref, found in cells.items():
        letters, row = _CELL_REF.match(ref).groups()
        rows.setdefault(int(row), []).append((column_index(letters) + 1, ref, found))
    for row, wanted in sorted(rows.items()):
        sheet = _mark_row(sheet, row, sorted(wanted), styles)
    pkg.write(part, sheet)


def _mark_row(sheet: str, row: int, wanted: list, styles: Styles) -> str:
    m = re.search(rf'<row\b[^>]*\sr="{row}"[^>]*?(/>|>(.*?)</row>)', sheet, re.S)
    if m is None:  # an absent row: insert it in order
        cells = "".join(
            f'<c r="{ref}" s="{styles.flagged(_base_format(sheet, None, col), _worst(found))}"/>'
            for col, ref, found in wanted
        )
        new_row = f'<row r="{row}">{cells}</row>'
        later = next(
            (r for r in re.finditer(r'<row\b[^>]*\sr="(\d+)"', sheet) if int(r.group(1)) > row), None
        )
        if later is not None:
            return sheet[: later.start()] + new_row + sheet[later.start() :]
        if "<sheetData/>" in sheet:
            return sheet.replace("<sheetData/>", f"<sheetData>{new_row}</sheetData>", 1)
        return sheet.replace("</sheetData>", new_row + "</sheetData>", 1)
    row_tag = sheet[m.start() : m.start() + sheet[m.start() :].index(">") + 1]
    inner = m.group(2) or ""
    for col, ref, found in wanted:
        cell = re.search(rf'<c\b[^>]*\sr="{ref}"[^>]*?(/>|>)', inner)
        if cell is not None:
            tag = cell.group(0)
            current = re.search(r'\ss="(\d+)"', tag)
            s = styles.flagged(
                int(current.group(1)) if current else 0, _worst(found)
            )  # a present cell: its own format
            new = re.sub(r'\ss="\d+"', f' s="{s}"', tag) if current else tag.replace("<c ", f'<c s="{s}" ', 1)
            inner = inner[: cell.start()] + new + inner[cell.end() :]
        else:
            s = styles.flagged(_base_format(sheet, row_tag, col), _worst(found))
            later = next(
                (
                    c
                    for c in re.finditer(r'<c\b[^>]*\sr="([A-Z]+)\d+"', inner)
                    if column_index(c.group(1)) + 1 > col
                ),
                None,
            )
            at = later.start() if later is not None else len(inner)
            inner = inner[:at] + f'<c r="{ref}" s="{s}"/>' + inner[at:]
    opening = row_tag if not row_tag.endswith("/>") else row_tag[:-2] + ">"
    return sheet[: m.start()] + opening + inner + "</row>" + sheet[m.end() :]


# --- notes -----------------------------------------------------------------------------------------------------


def _note(found: list[Issue]) -> str:
    return "\n".join(f"{i.severity.ru.capitalize()}: {i.message} Как исправить: {i.fix}" for i in found)[
        :2000
    ]


def _add_comments(pkg: Package, part: str, cells: dict[str, list[Issue]]) -> None:
    sheet = pkg.read(part)
    if "<legacyDrawing" in sheet:
        raise CannotPatch(f"{part} already has notes or controls")
    comments, vml = free_name(pkg, "xl/comments{}.xml"), free_name(pkg, "xl/drawings/vmlDrawing{}.vml")
    number = int(re.search(r"(\d+)\.vml$", vml).group(1))
    body = "".join(
        f'<comment ref="{ref}" authorId="0"><text><r><t xml:space="preserve">{html.escape(_note(found), quote=False)}'
        "</t></r></text></comment>"
        for ref, found in cells.items()
    )
    pkg.write(
        comments,
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<comments xmlns="{MAIN_NS}">'
        f"<authors><author>svod</author></authors><commentList>{body}</commentList></comments>",
    )
    shapes = []
    for k, ref in enumerate(cells, start=1):
        letters, row = _CELL_REF.match(ref).groups()
        col, r = column_index(letters), int(row) - 1
        shapes.append(
            f'<v:shape id="_x0000_s{number * 1024 + k}" type="#_x0000_t202" style="position:absolute;'
            'margin-left:60pt;margin-top:2pt;width:270pt;height:120pt;z-index:1;visibility:hidden" '
            'fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" '
            'obscured="t"/><v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"/></v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/>'
            f"<x:SizeWithCells/><x:Anchor>{col + 1}, 15, {r}, 2, {col + 5}, 15, {r + 8}, 2</x:Anchor>"
            f"<x:AutoFill>False</x:AutoFill><x:Row>{r}</x:Row><x:Column>{col}</x:Column></x:ClientData></v:shape>"
        )
    pkg.write(
        vml,
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
        f'<o:idmap v:ext="edit" data="{number}"/></o:shapelayout><v:shapetype id="_x0000_t202" '
        'coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
        '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>' + "".join(shapes) + "</xml>",
    )
    rels_name = rels_part(part)
    rels = (
        pkg.read(rels_name)
        if rels_name in pkg.names()
        else f'<Relationships xmlns="{PACKAGE_RELS_NS}"></Relationships>'
    )
    taken = set(re.findall(r'\sId="([^"]+)"', rels))
    vml_id, comments_id = (free_id(taken), None)
    taken.add(vml_id)
    comments_id = free_id(taken)
    depth = "../" * (part.count("/") - 1)
    rels = rels.replace(
        "</Relationships>",
        f'<Relationship Id="{vml_id}" Type="{VML_TYPE}" Target="{depth}{vml.removeprefix("xl/")}"/>'
        f'<Relationship Id="{comments_id}" Type="{COMMENTS_TYPE}" Target="{depth}{comments.removeprefix("xl/")}"/>'
        "</Relationships>",
    )
    if "</Relationships>" not in rels:
        raise CannotPatch(f"{rels_name} is not a plain relationships part")
    pkg.write(rels_name, rels)
    sheet = _with_legacy_drawing(sheet, vml_id)
    pkg.write(part, sheet)
    add_content_types(pkg, overrides={f"/{comments}": CT_COMMENTS}, defaults={"vml": CT_VML})


def _with_legacy_drawing(sheet: str, rel_id: str) -> str:
    if not re.search(r'xmlns:r="' + re.escape(REL_NS) + '"', sheet):
        sheet = re.sub(r"<worksheet\b", f'<worksheet xmlns:r="{REL_NS}"', sheet, count=1)
    element = f'<legacyDrawing r:id="{rel_id}"/>'
    for later in AFTER_LEGACY_DRAWING:
        if (at := sheet.find(f"<{later}")) != -1:
            return sheet[:at] + element + sheet[at:]
    return sheet.replace("</worksheet>", element + "</worksheet>", 1)


# --- the «Ошибки» sheet -----------------------------------------------------------------------------------------


def _add_issues_sheet(pkg: Package, issues: list[Issue]) -> None:
    header = ("Лист", "Ячейка", "Серьёзность", "Что не так", "Как исправить")
    rows = [f'<row r="1">{"".join(inline(f"{column_letter(c)}1", h) for c, h in enumerate(header))}</row>']
    links, n = [], 1
    for title, found in by_sheet(issues):
        for i in found:
            n += 1
            values = (title, i.cell or "", i.severity.ru, i.message, i.fix)
            rows.append(
                f'<row r="{n}">{"".join(inline(f"{column_letter(c)}{n}", v) for c, v in enumerate(values))}</row>'
            )
            if i.sheet and i.cell:
                location = html.escape(f"'{title}'!{i.cell}")
                links.append(f'<hyperlink ref="B{n}" location="{location}" display="{i.cell}"/>')
    hyperlinks = f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else ""
    part = free_name(pkg, "xl/worksheets/sheet{}.xml")
    pkg.write(
        part,
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}" '
        f'xmlns:r="{REL_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><sheetViews>'
        '<sheetView tabSelected="1" workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>'
        '<col min="1" max="1" width="28" customWidth="1"/><col min="2" max="2" width="9" customWidth="1"/>'
        '<col min="3" max="3" width="15" customWidth="1"/><col min="4" max="5" width="60" customWidth="1"/>'
        f'</cols><sheetData>{"".join(rows)}</sheetData>{hyperlinks}<pageMargins left="0.4" right="0.4" '
        'top="0.5" bottom="0.5" header="0.3" footer="0.3"/><pageSetup paperSize="9" orientation="landscape" '
        'fitToWidth="1" fitToHeight="0"/></worksheet>',
    )
    book_rels = pkg.read("xl/_rels/workbook.xml.rels")
    rel_id = free_id(set(re.findall(r'\sId="([^"]+)"', book_rels)))
    pkg.write(
        "xl/_rels/workbook.xml.rels",
        book_rels.replace(
            "</Relationships>",
            f'<Relationship Id="{rel_id}" Type="{SHEET_TYPE}" Target="{part.removeprefix("xl/")}"/></Relationships>',
            1,
        ),
    )
    book = pkg.read("xl/workbook.xml")
    sheet_id = max([int(x) for x in re.findall(r'<sheet\b[^>]*\ssheetId="(\d+)"', book)] or [0]) + 1
    book = re.sub(
        r"<sheets>",
        f'<sheets><sheet name="{ISSUES_SHEET}" sheetId="{sheet_id}" r:id="{rel_id}"/>',
        book,
        count=1,
    )
    book = re.sub(
        r'(<definedName\b[^>]*\slocalSheetId=")(\d+)"', lambda m: f'{m.group(1)}{int(m.group(2)) + 1}"', book
    )
    book = re.sub(
        r"<workbookView\b[^>]*>",
        lambda m: re.sub(r'\s(activeTab|firstSheet)="\d+"', "", m.group(0)).replace(
            "<workbookView", '<workbookView activeTab="0" firstSheet="0"', 1
        ),
        book,
        count=1,
    )
    pkg.write("xl/workbook.xml", book)
    _unselect(pkg)
    add_content_types(pkg, overrides={f"/{part}": CT_SHEET})


def _unselect(pkg: Package) -> None:
    """Clear the tab selection of the sheet that was active, so only «Ошибки» is selected when the file opens."""
    for _, part in list(sheet_parts(pkg).items())[1:]:  # the new sheet is first
        head = pkg.read(part, SHEET_HEAD_BYTES)
        if "<sheetData" in head.split('tabSelected="1"', 1)[0]:
            continue  # a sheet's views come before its cells: this one is not selected, and is not inflated
        sheet = pkg.read(part)
        if 'tabSelected="1"' in sheet:
            pkg.write(part, sheet.replace(' tabSelected="1"', "", 1))
