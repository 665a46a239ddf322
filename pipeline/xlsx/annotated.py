"""The annotated copy of a school's own workbook: flagged cells coloured by severity with a note saying what is
wrong and how to fix it, and an «Ошибки» sheet listing every problem grouped by sheet, linked to its cell.
Values are never changed.

The copy is made by patching the school's file (`pipeline.xlsx.patch`: only the annotated parts change). A file
the patcher cannot edit safely is re-written with openpyxl instead, which may drop parts of the school's file
it does not model; the receipt then says so (`REWRITTEN`).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue, by_sheet
from pipeline.domain.vocabulary import Severity
from pipeline.files import atomic_path
from pipeline.xlsx.patch import CannotPatch, patch

FILL = {
    Severity.ERROR: PatternFill("solid", fgColor="FFC7CE"),
    Severity.WARNING: PatternFill("solid", fgColor="FFEB9C"),
}
ISSUES_SHEET = "Ошибки"
log = logging.getLogger(__name__)


PATCHED, REWRITTEN = "patched", "rewritten"  # how a copy was made


def annotate(original: Path, issues: list[Issue], out: Path) -> tuple[Path, str]:
    """Write the annotated copy of `original` to `out`; returns it and how it was made (PATCHED or REWRITTEN)."""
    data = original.read_bytes()
    try:
        patched = patch(data, issues)
    except (CannotPatch, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        log.info("%s: patching refused (%s), re-writing with openpyxl", original.name, exc)
        return rewrite(original, issues, out), REWRITTEN
    with atomic_path(out) as tmp:
        tmp.write_bytes(patched)
    return out, PATCHED


def rewrite(original: Path, issues: list[Issue], out: Path) -> Path:
    """The fallback: the workbook re-written by openpyxl with flagged cells coloured and noted, plus an «Ошибки»
    sheet grouped by sheet, each problem linked to its cell, laid out to print on landscape pages one page wide."""
    wb = openpyxl.load_workbook(original, keep_links=False)
    catalogue = load_catalogue()
    notes: dict[tuple[str, str], list[Issue]] = {}
    for i in issues:
        if i.sheet and i.cell:
            notes.setdefault((catalogue.sheet(i.sheet).title, i.cell), []).append(i)
    for (title, cell), found in notes.items():
        if title not in wb.sheetnames:
            continue
        target = wb[title][cell]
        worst = Severity.ERROR if any(i.severity is Severity.ERROR for i in found) else Severity.WARNING
        target.fill = FILL[worst]
        text = "\n".join(f"{i.severity.ru.capitalize()}: {i.message} Как исправить: {i.fix}" for i in found)
        target.comment = Comment(text[:2000], "svod", width=360, height=160)
    if ISSUES_SHEET in wb.sheetnames:
        del wb[ISSUES_SHEET]
    ws = wb.create_sheet(ISSUES_SHEET, 0)
    ws.append(["Лист", "Ячейка", "Серьёзность", "Что не так", "Как исправить"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for title, found in by_sheet(issues):
        for i in found:
            ws.append([title, i.cell or "", i.severity.ru, i.message, i.fix])
            if i.sheet and i.cell:
                link = ws.cell(ws.max_row, 2)
                link.hyperlink = f"#'{title}'!{i.cell}"
                link.font = Font(color="0563C1", underline="single")
            ws.cell(ws.max_row, 3).fill = FILL[i.severity]
            for cell in ws[ws.max_row]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDE", (26, 9, 15, 60, 55), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.active = 0
    with atomic_path(out) as tmp:
        wb.save(tmp)
    return out
