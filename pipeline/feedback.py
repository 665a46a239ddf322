"""What a school gets back: an annotated copy of its own workbook and a receipt (квитанция), both in Russian.

The annotated copy keeps every value as sent; flagged cells are coloured by severity and carry a note, and an
«Ошибки» sheet lists every problem with a link to its cell. Files are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from contracts.catalogue import load_catalogue
from pipeline.issues import VERDICT_RU, Issue

FILL = {"error": PatternFill("solid", fgColor="FFC7CE"), "warning": PatternFill("solid", fgColor="FFEB9C")}
SEVERITY_RU = {"error": "ошибка", "warning": "предупреждение"}
ISSUES_SHEET = "Ошибки"


def _atomic_save(write, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    write(tmp)
    os.replace(tmp, path)
    return path


def feedback_path(outbox: Path, school_id: str | None, original_name: str, sha256: str, suffix: str) -> Path:
    """outbox/<ОО or _не_опознаны>/<name>_<sha8>_<suffix>: every answer about one file sits together."""
    return outbox / (school_id or "_не_опознаны") / f"{Path(original_name).stem}_{sha256[:8]}_{suffix}"


def write_notice(path: Path, text: str) -> Path:
    """A short plain-text answer to a school (duplicate file, version held for approval)."""
    return _atomic_save(lambda tmp: tmp.write_text(text, encoding="utf-8"), path)


def annotate(original: Path, issues: list[Issue], out: Path) -> Path:
    """Copy of the school's workbook with flagged cells coloured and noted, plus an «Ошибки» sheet."""
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
        worst = "error" if any(i.severity == "error" for i in found) else "warning"
        target.fill = FILL[worst]
        text = "\n".join(f"[{i.rule}, {SEVERITY_RU[i.severity]}] {i.message} {i.fix}" for i in found)
        target.comment = Comment(text[:2000], "svod", width=360, height=160)
    if ISSUES_SHEET in wb.sheetnames:
        del wb[ISSUES_SHEET]
    ws = wb.create_sheet(ISSUES_SHEET, 0)
    ws.append(["Код правила", "Серьёзность", "Где", "Что не так", "Как исправить"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i in issues:
        ws.append([i.rule, SEVERITY_RU[i.severity], i.where, i.message, i.fix])
        if i.sheet and i.cell:
            link = ws.cell(ws.max_row, 3)
            link.hyperlink = f"#'{catalogue.sheet(i.sheet).title}'!{i.cell}"
            link.font = Font(color="0563C1", underline="single")
        ws.cell(ws.max_row, 2).fill = FILL[i.severity]
    for letter, width in zip("ABCDE", (12, 16, 34, 80, 70), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    wb.active = 0
    return _atomic_save(wb.save, out)


def receipt_text(r: dict, issues: list[Issue]) -> str:
    """The receipt: identity, timing, counts and verdict, then every problem with its place."""
    lines = [
        "КВИТАНЦИЯ О ПРИЁМЕ ОТЧЁТА О НАСТАВНИЧЕСТВЕ",
        "",
        f"Файл: {r['original_name']}",
        f"Контрольная сумма (SHA-256): {r['sha256']}",
        f"Получен: {r['received_at']:%d.%m.%Y %H:%M}",
        f"ОО: {r.get('school_id') or 'не определена'} {r.get('school_name') or ''}".rstrip(),
        f"Период: {r.get('period') or 'не определён'}",
        f"Версия шаблона: {r.get('template_version') or '—'}",
        f"Версия отчёта: {r.get('version') or '—'}",
        f"Срок: {r['timeliness']}",
        f"Решение: {VERDICT_RU[r['verdict']].upper()}",
        f"Ошибок: {sum(i.severity == 'error' for i in issues)}, предупреждений: {sum(i.severity == 'warning' for i in issues)}",
    ]
    if r.get("rows"):
        lines += ["", "Строк по листам: " + ", ".join(f"{k} — {v}" for k, v in r["rows"].items())]
    if r.get("changes"):
        lines += ["", "Изменения по сравнению с предыдущей версией: " + r["changes"]]
    if r.get("note"):
        lines += ["", r["note"]]
    if issues:
        lines += ["", "ЗАМЕЧАНИЯ"]
        lines += [f"{n}. [{i.rule}, {SEVERITY_RU[i.severity]}] {i.where}: {i.message} Как исправить: {i.fix}"
                  for n, i in enumerate(issues, 1)]
    return "\n".join(lines) + "\n"


def write_receipt(r: dict, issues: list[Issue], out: Path) -> Path:
    return _atomic_save(lambda tmp: tmp.write_text(receipt_text(r, issues), encoding="utf-8"), out)
