"""The cabinet's one door into the pipeline, for what a page does at once: give a school its template, and take
a workbook in the way an inbox file is taken (archive byte for byte, isolated pre-check and parse, every rule,
history against the warehouse) and answer it. Nothing here writes the warehouse: an accepted identity is handed
to the pipeline by putting the file into the inbox under an internal name, and consolidation registers it there.

The warehouse is read only for a moment and never waited for: while a pipeline run writes it (DuckDB lets no
other process read then), the check goes on without the previous period's registries and says so.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import unicodedata
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.db import connections

from pipeline.config import Workspace
from pipeline.domain.issues import Issue, issue, verdict
from pipeline.feedback import ANSWER_FILES, answer_of, write_answer
from pipeline.files import atomic_path
from pipeline.intake.examine import checked_batches
from pipeline.intake.inbox import archive_file
from pipeline.intake.records import CheckResult
from pipeline.intake.workers import preload
from pipeline.reference import Issuer
from pipeline.schools import issue_templates
from pipeline.store import queries
from pipeline.store.warehouse import WarehouseBusy, connect
from pipeline.xlsx.templates import template_name

READ_WAIT_SECONDS = (
    0.0  # a check tries the warehouse once; while a run writes it, the history rules wait for the run
)
ACCEPTED_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")  # kept as sent; the pre-check answers each
CHECKING_PROCESSES = 2  # uploads checked at the same time by one server, each in its own process (shared out
# among its web processes: `start_checking`)
MAX_BATCH = 8  # uploads a checking process takes at once when they queue
CHECKING_NICENESS = 5  # pages (milliseconds of CPU) go before checks (a tenth of a second each)


class WarehouseInUse(RuntimeError):
    """The warehouse is being written by a run and a page needs it now; the message is for people."""


def workspace() -> Workspace:
    return settings.WORKSPACE


def display_name(client_name: str) -> str:
    """The name a client gave its file, fit to show (no folders, no control characters, not too long)."""
    base = client_name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return clean[:120] or "файл"


def template_path(municipality: str, period: str, school_id: str) -> Path:
    """The school's prefilled template: the one issued to it, else issued now (carrying its registries forward
    from the warehouse, which must be readable for that)."""
    ws = workspace()
    folder = ws.templates / municipality / period.replace("/", "-")
    path = folder / template_name(municipality, period, school_id)
    if path.exists():
        return path
    if not ws.database.exists():
        return issue_templates(None, ws.issuer, folder, municipality, period, [school_id])[0][0]
    try:
        with ws.connect(read_only=True, wait=READ_WAIT_SECONDS) as con:
            return issue_templates(con, ws.issuer, folder, municipality, period, [school_id])[0][0]
    except WarehouseBusy as exc:
        raise WarehouseInUse(
            "Сейчас идёт свод отчётов, шаблон с вашими данными прошлого периода можно будет "
            "скачать через несколько минут."
        ) from exc


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


@dataclass
class HandedIn:
    sha256: str
    verdict: str
    issues: list[Issue]
    rows: dict[str, int]
    history_checked: bool
    forwarded: bool


def hand_in(
    upload_id,
    data: bytes,
    client_name: str,
    school_id: str,
    period: str,
    received_at: datetime,
    previous_version=None,
) -> HandedIn:
    """Archive, check and answer one workbook a school hands in for a period (in a checking process, so pages
    served meanwhile do not wait on its CPU); forward it to the pipeline when it is that school's return for that
    period. The answer, with what changed since `previous_version` (an upload), is under
    `cabinet/answers/<upload id>/`."""
    ws = workspace()
    suffix = Path(client_name).suffix.lower()
    internal = f"{upload_id}{suffix if suffix in ACCEPTED_SUFFIXES else '.bin'}"
    stored = archive_file(ws, data, internal)
    m = ws.reference.school_home(school_id)
    before = (
        None
        if previous_version is None
        else SimpleNamespace(
            issues=previous_version.issues,
            rows=previous_version.rows,
            uploaded_at=previous_version.uploaded_at,
        )
    )
    checked = CHECKING_LINE.check(
        Handing(
            stored,
            ws.issuer,
            received_at.replace(microsecond=0),
            internal,
            display_name(client_name),
            school_id,
            period,
            m.period(period).end,
            before,
            answers_folder(upload_id),
            ws.home,
            ws.database,
        )
    )
    forwarded = checked.school_id == school_id and checked.period == period
    if forwarded:
        with atomic_path(ws.inbox / internal) as tmp:
            tmp.write_bytes(data)
            stamp = received_at.timestamp()
            os.utime(
                tmp, (stamp, stamp)
            )  # the pipeline takes the arrival time, and the order, from the file's time
    return HandedIn(
        checked.sha256, checked.verdict, checked.issues, checked.rows, checked.history_checked, forwarded
    )


@dataclass
class Checked:
    sha256: str
    verdict: str
    issues: list[Issue]
    rows: dict[str, int]
    school_id: str | None
    period: str | None
    history_checked: bool  # the previous period's registries could be read for the history rules


@dataclass
class Handing:
    """One workbook waiting for its check: the archived file, who handed it in for which period (and when that
    period ends: the history rules compare with the period before), that school's previous upload, where its
    answer goes, and the warehouse to read the previous registries from."""

    stored: Path
    issuer: Issuer
    received_at: datetime
    internal: str
    shown_name: str
    school_id: str
    period: str
    period_end: date
    before: object
    folder: Path
    home: Path
    database: Path


def check_and_answer(handings: list[Handing]) -> list[Checked | Exception]:
    """In a checking process: the schools' previous registries in one read of the warehouse, every check of the
    files as one batch of the pipeline's checking, the cabinet's own identity rules, and each written answer; an
    answer that fails is that file's exception, not the others'."""
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
    answers = []
    for h, result in zip(handings, results, strict=True):
        try:
            answers.append(answered(h, result, history_checked))
        except Exception as exc:  # noqa: BLE001 — reported to that upload's page, not to the batch
            answers.append(exc)
    return answers


def answered(h: Handing, result: CheckResult, history_checked: bool) -> Checked:
    """The cabinet's identity rules on a checked file, and its answer written."""
    from cabinet.workflow import changes_since, changes_text

    result.original_name = h.shown_name
    if result.school_id is not None and result.school_id != h.school_id:
        result.issues = [issue("U01", claimed=result.school_id, school=h.school_id), *result.issues]
    elif result.period is not None and result.period != h.period:
        result.issues = [issue("U02", claimed=result.period, period=h.period), *result.issues]
    result.verdict = verdict(result.issues)
    changes = changes_text(
        changes_since(h.before, [i.model_dump(mode="json") for i in result.issues], result.rows)
    )
    write_answer(
        answer_of(result, h.issuer.reference, source=str(h.stored.relative_to(h.home)), changes=changes),
        h.folder,
        h.home,
        stem="ответ",
    )
    return Checked(
        result.sha256,
        result.verdict.value,
        result.issues,
        result.rows,
        result.school_id,
        result.period,
        history_checked,
    )


class CheckingLine:
    """Uploads wait here for a checking process. One dispatcher thread per process takes every upload waiting
    (up to MAX_BATCH) and checks them in one call: a burst of uploads shares the contracts' fixed cost, as the
    pipeline's batches do, instead of paying it once per file. A lone upload goes at once, alone."""

    def __init__(self):
        self.waiting: queue.SimpleQueue[tuple[Handing, Future]] = queue.SimpleQueue()
        self.lock, self.started = threading.Lock(), False

    def check(self, handing: Handing) -> Checked:
        future: Future = Future()
        self.waiting.put((handing, future))
        with self.lock:
            if not self.started:
                for _ in range(_checking_processes):
                    threading.Thread(target=self.dispatch, daemon=True, name="svod-checking").start()
                self.started = True
        return future.result()

    def dispatch(self) -> None:
        while True:
            batch = [self.waiting.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                answers = in_checking_process(check_and_answer, [h for h, _ in batch])
            except Exception as exc:  # noqa: BLE001 — every waiting page gets the failure
                answers = [exc] * len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)


CHECKING_LINE = CheckingLine()
_checkers: ProcessPoolExecutor | None = None
_checkers_lock = threading.Lock()
_checking_processes = CHECKING_PROCESSES  # this web process's share


def start_checking(web_processes: int = 1) -> None:
    """Fork this web process's share of the server's checking processes now (at its start, before threads and
    requests), ready to check. No database connection is carried into them: they never use one."""
    global _checking_processes
    _checking_processes = max(1, CHECKING_PROCESSES // web_processes)
    connections.close_all()
    list(
        map(
            Future.result,
            [
                in_checking_pool().submit(preload, workspace().reference_dir)
                for _ in range(_checking_processes)
            ],
        )
    )


def stop_checking() -> None:
    """Stop this web process's checking processes (the web process is stopping)."""
    with _checkers_lock:
        if _checkers is not None:
            _checkers.shutdown(wait=True, cancel_futures=True)


def checking_process_start() -> None:
    """A checking process yields the CPU to the web process's pages, ends with its web process (even one that
    was killed), then loads what checking needs."""
    os.nice(CHECKING_NICENESS)
    threading.Thread(target=_end_when_orphaned, args=(os.getppid(),), daemon=True).start()
    preload(workspace().reference_dir)


def _end_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def in_checking_pool() -> ProcessPoolExecutor:
    global _checkers
    with _checkers_lock:
        if _checkers is None:
            _checkers = ProcessPoolExecutor(
                _checking_processes,
                mp_context=multiprocessing.get_context("fork"),
                initializer=checking_process_start,
            )
        return _checkers


def in_checking_process(fn, *args):
    """Run `fn(*args)` in one of this web process's checking processes (forked once); a pool
    whose process died is replaced and the call made again once."""
    global _checkers
    for attempt in (1, 2):
        pool = in_checking_pool()
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            with _checkers_lock:
                if _checkers is pool:
                    _checkers = None
            if attempt == 2:
                raise


def answers_folder(upload_id) -> Path:
    return workspace().home / "cabinet" / "answers" / str(upload_id)


def answer_file(upload_id, kind: str) -> Path | None:
    """A written answer to an upload (a key of ANSWER_FILES), if it exists."""
    found = sorted(answers_folder(upload_id).rglob(f"*_{ANSWER_FILES[kind]}"))
    return found[0] if found else None


def archived(sha256: str) -> Path | None:
    """The archived bytes of a file, by its hash."""
    found = sorted((workspace().archive / sha256[:2]).glob(f"{sha256}.*"))
    return found[0] if found else None
