"""The one entry for a workbook a person hands in for a school and a period (the cabinet's upload): archived byte
for byte, checked as an inbox file is (isolated pre-check and parse, every rule, history against the warehouse),
tested against who handed it in for which period (U01, U02), answered with what changed since that school's
version before it, and forwarded to the inbox when it is that school's return for that period, where
consolidation registers it as it registers every file. Nothing here writes the warehouse.

`handing` archives and describes a file (at once, where the bytes arrived); `take` does the rest for a batch of
them, where the caller can afford the CPU (the cabinet: a checking process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pipeline.config import Workspace
from pipeline.domain.issues import Issue, issue, verdict
from pipeline.domain.versions import Version
from pipeline.feedback import answer_of, changes_text, write_answer
from pipeline.files import atomic_path
from pipeline.intake.examine import checked_batches
from pipeline.intake.inbox import archive_file
from pipeline.intake.records import CheckResult
from pipeline.reference import Issuer
from pipeline.store import queries
from pipeline.store.warehouse import WarehouseBusy, connect

ACCEPTED_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")  # kept as sent; the pre-check answers each
READ_WAIT_SECONDS = (
    0.0  # the warehouse is tried once; while a run writes it, the history rules wait for the run
)


@dataclass
class Handing:
    """One archived workbook waiting for its check: who handed it in for which period (and when that period
    ends: the history rules compare with the period before), that school's version before it, where its answer
    goes, and the workspace's files it touches."""

    stored: Path
    issuer: Issuer
    received_at: datetime
    internal: str  # the name it is forwarded to the inbox under
    shown_name: str
    school_id: str
    period: str
    period_end: date
    before: Version | None
    answers: Path
    home: Path
    database: Path
    inbox: Path


@dataclass
class Handed:
    sha256: str
    verdict: str
    issues: list[Issue]
    rows: dict[str, int]
    history_checked: bool  # the previous period's registries could be read for the history rules
    forwarded: bool  # it is the school's return for the period, and went on to consolidation


def handing(
    ws: Workspace,
    key: str,
    data: bytes,
    shown_name: str,
    school_id: str,
    period: str,
    received_at: datetime,
    before: Version | None,
    answers: Path,
) -> Handing:
    """Archive the bytes a person handed in (under their hash; `key` names them to the inbox) and describe the
    check they wait for."""
    suffix = Path(shown_name).suffix.lower()
    internal = f"{key}{suffix if suffix in ACCEPTED_SUFFIXES else '.bin'}"
    m = ws.reference.school_home(school_id)
    return Handing(
        archive_file(ws, data, internal),
        ws.issuer,
        received_at.replace(microsecond=0),
        internal,
        shown_name,
        school_id,
        period,
        m.period(period).end,
        before,
        answers,
        ws.home,
        ws.database,
        ws.inbox,
    )


def take(handings: list[Handing]) -> list[Handed | Exception]:
    """Check, answer and forward a batch: the schools' previous registries in one read of the warehouse, every
    check as one batch of the pipeline's checking, then each file's claim, answer and forwarding; a file that
    fails is that file's exception, not the others'."""
    previous, history_checked = previous_registries(
        handings[0].database, [(h.school_id, h.period_end) for h in handings]
    )
    files = [(h.stored, h.received_at, h.internal) for h in handings]
    results = [
        r
        for batch in checked_batches(
            files, handings[0].issuer, lambda school, end: previous.get((school, end), {})
        )
        for r in batch
    ]
    taken = []
    for h, result in zip(handings, results, strict=True):
        try:
            taken.append(answered(h, result, history_checked))
        except Exception as exc:  # noqa: BLE001 — reported to that file's person, not to the batch
            taken.append(exc)
    return taken


def previous_registries(database: Path, wanted: list[tuple[str, date]]) -> tuple[dict, bool]:
    """{(school, period end): its registries of the previous accepted period} for each wanted pair, in one read
    of the warehouse, and whether the warehouse could be read."""
    if not database.exists():
        return {}, True
    try:
        with connect(database, read_only=True, wait=READ_WAIT_SECONDS) as con:
            found = {}
            for end in {end for _, end in wanted}:
                schools = sorted({school for school, e in wanted if e == end})
                found |= {
                    (school, end): frames
                    for school, frames in queries.previous_facts(con, schools, end).items()
                }
            return found, True
    except WarehouseBusy:
        return {}, False


def claim_issues(result: CheckResult, school_id: str, period: str) -> list[Issue]:
    """A file that names another school, or another period, than the one it was handed in for."""
    if result.school_id is not None and result.school_id != school_id:
        return [issue("U01", claimed=result.school_id, school=school_id)]
    if result.period is not None and result.period != period:
        return [issue("U02", claimed=result.period, period=period)]
    return []


def answered(h: Handing, result: CheckResult, history_checked: bool) -> Handed:
    """One checked file's claim tested, its answer written and, when it is the school's return, forwarded."""
    result.original_name = h.shown_name
    result.issues = [*claim_issues(result, h.school_id, h.period), *result.issues]
    result.verdict = verdict(result.issues)
    write_answer(
        answer_of(
            result,
            h.issuer.reference,
            source=str(h.stored.relative_to(h.home)),
            changes=changes_text(h.before, result),
        ),
        h.answers,
        h.home,
        stem="ответ",
    )
    forwarded = result.school_id == h.school_id and result.period == h.period
    if forwarded:
        forward(h)
    return Handed(result.sha256, result.verdict.value, result.issues, result.rows, history_checked, forwarded)


def forward(h: Handing) -> None:
    """Put the file in the inbox under its internal name, dated when it was handed in: the pipeline takes the
    arrival time, and the order, from the file's time."""
    with atomic_path(h.inbox / h.internal) as tmp:
        tmp.write_bytes(h.stored.read_bytes())
        stamp = h.received_at.timestamp()
        os.utime(tmp, (stamp, stamp))
