"""What a school gets back: an annotated copy of its own workbook and a receipt (квитанция), both in Russian,
and the short notices for a file sent twice or held behind an approval.

The annotated copy keeps every value as sent; flagged cells are coloured by severity and carry a note, and an
«Ошибки» sheet lists every problem with a link to its cell. Every answer about one file sits together under
`outbox/<ОО>/`. A copy that cannot be made is named on the receipt, never silently left out.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from pipeline.domain.issues import Issue, by_sheet, counts
from pipeline.domain.versions import Version, changes
from pipeline.domain.vocabulary import Verdict
from pipeline.files import atomic_write
from pipeline.reference import Reference
from pipeline.xlsx.annotated import REWRITTEN, annotate
from pipeline.xlsx.plain_book import write_plain_book

if TYPE_CHECKING:
    from pipeline.intake.records import CheckResult

ANSWER_FILES = {
    "receipt": "квитанция.xlsx",
    "receipt_text": "квитанция.txt",
    "annotated": "проверка.xlsx",
}  # suffixes
RECEIPT, HELD = "receipt", Verdict.HELD.value  # kinds of answer: after a check, or for a version held back
UNIDENTIFIED_FOLDER = "_не_опознаны"
log = logging.getLogger(__name__)


def feedback_path(outbox: Path, school_id: str | None, original_name: str, sha256: str, suffix: str) -> Path:
    """outbox/<ОО or _не_опознаны>/<name>_<sha8>_<suffix>: every answer about one file sits together."""
    return outbox / (school_id or UNIDENTIFIED_FOLDER) / f"{Path(original_name).stem}_{sha256[:8]}_{suffix}"


def write_duplicate_receipt(
    outbox: Path, name: str, digest: str, school_id: str | None, first: datetime
) -> Path:
    text = (
        f"Файл «{name}» (SHA-256 {digest}) уже был получен {first:%d.%m.%Y %H:%M}.\n"
        "Повторная отправка тех же данных ничего не меняет; если вы исправляли отчёт, сохраните файл заново и "
        "отправьте исправленную версию.\n"
    )
    return atomic_write(feedback_path(outbox, school_id, name, digest, "повтор.txt"), text)


def write_held_notice(
    outbox: Path, school_id: str, name: str, digest: str, received: datetime, period: str
) -> Path:
    text = (
        f"Файл «{name}» (SHA-256 {digest}) получен {received:%d.%m.%Y %H:%M}.\n"
        f"Отчёт ОО {school_id} за период {period} уже утверждён муниципалитетом, поэтому новая версия "
        "отложена и будет проверена после того, как методист снимет утверждение (svod unlock).\n"
    )
    return atomic_write(feedback_path(outbox, school_id, name, digest, "отложен.txt"), text)


def receipt_lines(r: dict, issues: list[Issue]) -> list[tuple[str, str]]:
    """The receipt's heading as (field, value) pairs: identity, timing, verdict, counts, what to do next."""
    errors, warnings = counts(issues)
    verdict = Verdict(r["verdict"])
    lines = [
        ("Файл", r["original_name"]),
        ("Контрольная сумма (SHA-256)", r["sha256"]),
        ("Получен", f"{r['received_at']:%d.%m.%Y %H:%M}"),
        ("ОО", f"{r.get('school_id') or 'не определена'} {r.get('school_name') or ''}".rstrip()),
        ("Период", r.get("period") or "не определён"),
        ("Версия шаблона", r.get("template_version") or "—"),
        ("Версия отчёта", str(r.get("version") or "—")),
        ("Срок", r["timeliness"]),
        ("Решение", verdict.ru.upper()),
        ("Ошибок / предупреждений", f"{errors} / {warnings}"),
    ]
    if r.get("rows"):
        lines.append(("Строк по листам", ", ".join(f"{k} — {v}" for k, v in r["rows"].items())))
    if r.get("changes"):
        lines.append(("Изменения по сравнению с предыдущей версией", r["changes"]))
    if r.get("annotated"):
        lines.append(
            (
                "Копия файла с пометками",
                f"{r['annotated']}: ошибочные ячейки выделены цветом, у каждой — "
                "примечание; список всех замечаний — на первом листе «Ошибки».",
            )
        )
    if r.get("rewritten"):
        lines.append(
            (
                "Как сделана копия",
                "ваш файл не удалось дополнить пометками напрямую, поэтому копия пересохранена "
                "заново: оформление в ней может отличаться от вашего файла, значения — те же.",
            )
        )
    if r.get("annotation_failure"):
        lines.append(("Копия файла с пометками", "подготовить не удалось; все замечания перечислены ниже."))
    if verdict is Verdict.REJECTED:
        deadline = r.get("deadline")
        when = (
            f"до {deadline:%d.%m.%Y}"
            if deadline and deadline >= r["received_at"].date()
            else f"как можно скорее (срок сдачи {deadline:%d.%m.%Y} прошёл)"
            if deadline
            else "заново"
        )
        lines.append(("Что сделать", f"Исправьте ошибки в своём файле и отправьте исправленный файл {when}."))
    elif warnings:
        lines.append(
            (
                "Что сделать",
                "Отчёт принят. Проверьте предупреждения: если данные верны, ничего делать не нужно.",
            )
        )
    return lines


def receipt_text(r: dict, issues: list[Issue]) -> str:
    """The receipt: its heading, then every problem grouped by sheet with its cell and how to fix it."""
    lines = [
        "КВИТАНЦИЯ О ПРИЁМЕ ОТЧЁТА О НАСТАВНИЧЕСТВЕ",
        "",
        *(f"{k}: {v}" for k, v in receipt_lines(r, issues)),
    ]
    n = 0
    for title, found in by_sheet(issues):
        lines += ["", f"ЗАМЕЧАНИЯ — {title}"]
        for i in found:
            n += 1
            where = f"ячейка {i.cell}, " if i.cell else ""
            lines.append(f"{n}. {where}{i.severity.ru}: {i.message} Как исправить: {i.fix}")
    return "\n".join(lines) + "\n"


def write_receipt_book(r: dict, issues: list[Issue], path: Path) -> Path:
    """The receipt as a workbook: the heading, then the problems grouped by sheet."""
    rows = [("title", ["Квитанция о приёме отчёта о наставничестве"]), ("plain", [])]
    rows += [("plain", [k, v]) for k, v in receipt_lines(r, issues)]
    rows += [("plain", []), ("head", ["Лист", "Ячейка", "Серьёзность", "Что не так", "Как исправить"])]
    rows += [
        ("plain", [title, i.cell or "", i.severity.ru, i.message, i.fix])
        for title, found in by_sheet(issues)
        for i in found
    ]
    return write_plain_book(path, "Квитанция", rows, [30, 60, 15, 60, 55])


class Answer(BaseModel):
    """What a school is told about one received file, recorded in the warehouse in the same transaction as its
    verdict (or hold) and written from that record, so a crash between the two loses no answer."""

    kind: str = RECEIPT  # RECEIPT after a check, HELD for a version waiting behind an approval
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
    deadline: date | None = None
    rows: dict[str, int] = {}
    version: int | None = None
    changes: str | None = None
    source: str | None = None  # the checked file (archive path relative to the workspace, or absolute)
    parsed: bool = False  # the workbook could be read, so its cells can be annotated


def answer_of(result: CheckResult, ref: Reference, source: str | None = None, **extra) -> Answer:
    """The answer to a checked file (its school and deadline from `ref`); `extra` adds what the load found
    (version, changes)."""
    school = ref.school_home(result.school_id).school(result.school_id) if result.school_id else None
    deadline = (
        ref.municipalities[result.municipality].period(result.period).deadline
        if result.municipality and result.period
        else None
    )
    timeliness = (
        "не определён"
        if deadline is None
        else f"в срок (до {deadline:%d.%m.%Y})"
        if result.received_at.date() <= deadline
        else f"просрочено (срок {deadline:%d.%m.%Y})"
    )
    return Answer(
        sha256=result.sha256,
        original_name=result.original_name,
        received_at=result.received_at,
        verdict=result.verdict,
        issues=result.issues,
        school_id=result.school_id,
        school_name=school.name if school else None,
        period=result.period,
        template_version=result.book.identity.get("template_version") if result.book else None,
        timeliness=timeliness,
        deadline=deadline,
        rows=result.rows,
        source=source or str(result.source),
        parsed=result.book is not None,
        **extra,
    )


def held_answer(rec, period: str) -> Answer:
    """The notice for a new version of an approved return: it waits until staff unlock the approval."""
    return Answer(
        kind=HELD,
        sha256=rec.sha256,
        original_name=rec.original_name,
        received_at=rec.received,
        verdict=Verdict.HELD,
        school_id=rec.school_id,
        period=period,
    )


def loaded_answer(home: Path, ref: Reference):
    """`answer_of` for the store's load (`pipeline.store.loads.load_results`): the answer to a checked return,
    with its version and what it changed against the school's version before it."""

    def answer(result: CheckResult, version: int | None, before: Version | None) -> Answer:
        source = (
            None
            if result.source is None
            else str(result.source.relative_to(home))
            if result.source.is_relative_to(home)
            else str(result.source)
        )
        return answer_of(result, ref, source, version=version, changes=changes_text(before, result))

    return answer


def changes_text(before: Version | None, result: CheckResult) -> str | None:
    """What a checked file changed against the school's version before it, in words (None for a first one)."""
    found = changes(before, result.issues, result.rows)
    return found.text if found else None


def write_answer(
    answer: Answer, out_dir: Path, home: Path | None = None, stem: str | None = None
) -> tuple[list[Path], str | None]:
    """Write an answer under outbox/<ОО>/: the receipt, and the annotated copy when the file could be read and a
    cell is flagged. Files are named after the file sent (or `stem`). Returns the paths and, if the annotated
    copy failed, why (the receipt says so too)."""

    def place(suffix: str) -> Path:
        return feedback_path(
            out_dir, answer.school_id, f"{stem}.xlsx" if stem else answer.original_name, answer.sha256, suffix
        )

    if answer.kind == HELD:
        return [
            write_held_notice(
                out_dir,
                answer.school_id,
                answer.original_name,
                answer.sha256,
                answer.received_at,
                answer.period,
            )
        ], None
    paths, failure, method = [], None, None
    if answer.parsed and any(i.cell for i in answer.issues):  # a clean file needs only its receipt
        try:
            copy, method = annotate(
                (home or Path()) / answer.source, answer.issues, place(ANSWER_FILES["annotated"])
            )
            paths.append(copy)
        except Exception as exc:
            # openpyxl may refuse what calamine read; the receipt still carries every issue
            failure = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("annotated copy of %s failed: %s", answer.sha256, failure)
    info = {
        **answer.model_dump(exclude={"issues"}),
        "annotation_failure": failure,
        "annotated": paths[0].name if paths else None,
        "rewritten": method == REWRITTEN,
    }
    receipts = [
        atomic_write(place(ANSWER_FILES["receipt_text"]), receipt_text(info, answer.issues)),
        write_receipt_book(info, answer.issues, place(ANSWER_FILES["receipt"])),
    ]
    return [*receipts, *paths], failure
