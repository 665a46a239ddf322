"""What a school gets back: an annotated copy of its own workbook and a receipt (квитанция), both in Russian,
and the short notices for a file sent twice or held behind an approval.

The annotated copy keeps every value as sent; flagged cells are coloured by severity and carry a note, and an
«Ошибки» sheet lists every problem with a link to its cell. Every answer about one file sits together under
`outbox/<ОО>/`. A copy that cannot be made is named on the receipt, never silently left out.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import openpyxl
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from pydantic import BaseModel

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue, counts
from pipeline.domain.vocabulary import Severity, Verdict
from pipeline.files import atomic_path, atomic_write
from pipeline.reference import load_reference

if TYPE_CHECKING:
    from pipeline.intake.records import CheckResult

FILL = {Severity.ERROR: PatternFill("solid", fgColor="FFC7CE"), Severity.WARNING: PatternFill("solid", fgColor="FFEB9C")}
ISSUES_SHEET = "Ошибки"
RECEIPT, HELD = "receipt", Verdict.HELD.value  # kinds of answer: after a check, or for a version held back
UNIDENTIFIED_FOLDER = "_не_опознаны"
log = logging.getLogger(__name__)


def feedback_path(outbox: Path, school_id: str | None, original_name: str, sha256: str, suffix: str) -> Path:
    """outbox/<ОО or _не_опознаны>/<name>_<sha8>_<suffix>: every answer about one file sits together."""
    return outbox / (school_id or UNIDENTIFIED_FOLDER) / f"{Path(original_name).stem}_{sha256[:8]}_{suffix}"


def write_duplicate_receipt(outbox: Path, name: str, digest: str, school_id: str | None, first: datetime) -> Path:
    text = (f"Файл «{name}» (SHA-256 {digest}) уже был получен {first:%d.%m.%Y %H:%M}.\n"
            "Повторная отправка тех же данных ничего не меняет; если вы исправляли отчёт, сохраните файл заново и "
            "отправьте исправленную версию.\n")
    return atomic_write(feedback_path(outbox, school_id, name, digest, "повтор.txt"), text)


def write_held_notice(outbox: Path, school_id: str, name: str, digest: str, received: datetime, period: str) -> Path:
    text = (f"Файл «{name}» (SHA-256 {digest}) получен {received:%d.%m.%Y %H:%M}.\n"
            f"Отчёт ОО {school_id} за период {period} уже утверждён муниципалитетом, поэтому новая версия "
            "отложена и будет проверена после того, как методист снимет утверждение (svod unlock).\n")
    return atomic_write(feedback_path(outbox, school_id, name, digest, "отложен.txt"), text)


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
        worst = Severity.ERROR if any(i.severity is Severity.ERROR for i in found) else Severity.WARNING
        target.fill = FILL[worst]
        text = "\n".join(f"[{i.rule}, {i.severity.ru}] {i.message} {i.fix}" for i in found)
        target.comment = Comment(text[:2000], "svod", width=360, height=160)
    if ISSUES_SHEET in wb.sheetnames:
        del wb[ISSUES_SHEET]
    ws = wb.create_sheet(ISSUES_SHEET, 0)
    ws.append(["Код правила", "Серьёзность", "Где", "Что не так", "Как исправить"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i in issues:
        ws.append([i.rule, i.severity.ru, i.where, i.message, i.fix])
        if i.sheet and i.cell:
            link = ws.cell(ws.max_row, 3)
            link.hyperlink = f"#'{catalogue.sheet(i.sheet).title}'!{i.cell}"
            link.font = Font(color="0563C1", underline="single")
        ws.cell(ws.max_row, 2).fill = FILL[i.severity]
    for letter, width in zip("ABCDE", (12, 16, 34, 80, 70), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    wb.active = 0
    with atomic_path(out) as tmp:
        wb.save(tmp)
    return out


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
        f"Решение: {Verdict(r['verdict']).ru.upper()}",
        "Ошибок: {}, предупреждений: {}".format(*counts(issues)),
    ]
    if r.get("rows"):
        lines += ["", "Строк по листам: " + ", ".join(f"{k} — {v}" for k, v in r["rows"].items())]
    if r.get("changes"):
        lines += ["", "Изменения по сравнению с предыдущей версией: " + r["changes"]]
    if r.get("note"):
        lines += ["", r["note"]]
    if r.get("annotation_failure"):
        lines += ["", "Копию файла с пометками в ячейках подготовить не удалось; все замечания перечислены ниже."]
    if issues:
        lines += ["", "ЗАМЕЧАНИЯ"]
        lines += [f"{n}. [{i.rule}, {i.severity.ru}] {i.where}: {i.message} Как исправить: {i.fix}"
                  for n, i in enumerate(issues, 1)]
    return "\n".join(lines) + "\n"


class Answer(BaseModel):
    """What a school is told about one received file, recorded in the warehouse in the same transaction as its
    verdict (or hold) and written from that record, so a crash between the two loses no answer."""

    kind: str = RECEIPT                     # RECEIPT after a check, HELD for a version waiting behind an approval
    sha256: str
    original_name: str
    received_at: datetime
    verdict: Verdict
    issues: list[Issue] = []
    school_id: str | None = None
    school_name: str | None = None
    period: str | None = None
    template_version: str | None = None
    timeliness: str = "не определён"
    rows: dict[str, int] = {}
    version: int | None = None
    changes: str | None = None
    source: str | None = None               # the checked file (archive path relative to the workspace, or absolute)
    parsed: bool = False                    # the workbook could be read, so its cells can be annotated


def answer_of(result: CheckResult, source: str | None = None, **extra) -> Answer:
    """The answer to a checked file; `extra` adds what the load found (version, changes)."""
    ref = load_reference()
    school = ref.school_home(result.school_id).school(result.school_id) if result.school_id else None
    deadline = (ref.municipalities[result.municipality].period(result.period).deadline
                if result.municipality and result.period else None)
    timeliness = ("не определён" if deadline is None else
                  f"в срок (до {deadline:%d.%m.%Y})" if result.received_at.date() <= deadline else
                  f"просрочено (срок {deadline:%d.%m.%Y})")
    return Answer(sha256=result.sha256, original_name=result.original_name, received_at=result.received_at,
                  verdict=result.verdict, issues=result.issues, school_id=result.school_id,
                  school_name=school.name if school else None, period=result.period,
                  template_version=result.book.identity.get("template_version") if result.book else None,
                  timeliness=timeliness, rows=result.rows, source=source or str(result.source),
                  parsed=result.book is not None, **extra)


def write_answer(answer: Answer, out_dir: Path, home: Path | None = None) -> tuple[list[Path], str | None]:
    """Write an answer under outbox/<ОО>/: the receipt, and the annotated copy when the file could be read and a
    cell is flagged. Returns the paths and, if the annotated copy failed, why (the receipt says so too)."""
    def place(suffix: str) -> Path:
        return feedback_path(out_dir, answer.school_id, answer.original_name, answer.sha256, suffix)

    if answer.kind == HELD:
        return [write_held_notice(out_dir, answer.school_id, answer.original_name, answer.sha256, answer.received_at,
                                  answer.period)], None
    paths, failure = [], None
    if answer.parsed and any(i.cell for i in answer.issues):  # a clean file needs only its receipt
        try:
            paths.append(annotate((home or Path()) / answer.source, answer.issues, place("проверка.xlsx")))
        except Exception as exc:  # openpyxl may refuse what calamine read; the receipt still carries every issue
            failure = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("annotated copy of %s failed: %s", answer.sha256, failure)
    info = {**answer.model_dump(exclude={"issues"}), "annotation_failure": failure}
    return [atomic_write(place("квитанция.txt"), receipt_text(info, answer.issues)), *paths], failure
