"""What the cabinet's pages need of the pipeline at once: a school's template, and a handed-in workbook taken
through the pipeline's one entry (`pipeline.intake.handing`: archived, checked, answered, forwarded to the
inbox), checked in processes of the web server's own so that pages served meanwhile do not wait on its CPU.
Nothing here writes the warehouse.

The warehouse is read only for a moment and never waited for: while a pipeline run writes it (DuckDB lets no
other process read then), the check goes on without the previous period's registries and says so.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import socket
import threading
import time
import unicodedata
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from pipeline.config import Workspace
from pipeline.domain.issues import Issue
from pipeline.domain.versions import Version
from pipeline.feedback import ANSWER_FILES
from pipeline.intake.handing import READ_WAIT_SECONDS, Handed, Handing, handing, take
from pipeline.intake.workers import preload
from pipeline.schools import issue_templates
from pipeline.store.warehouse import WarehouseBusy
from pipeline.xlsx.templates import template_name

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


def version_of(upload) -> Version:
    """What the next version is compared with: an upload's problems, rows and time."""
    return Version(
        [Issue.model_validate(i) for i in upload.issues],
        upload.rows,
        timezone.localtime(upload.uploaded_at).replace(tzinfo=None),
    )


def hand_in(
    upload_id,
    data: bytes,
    client_name: str,
    school_id: str,
    period: str,
    received_at: datetime,
    previous=None,
) -> Handed:
    """Hand a workbook in through the pipeline's one entry (`pipeline.intake.handing`), checked in a checking
    process so pages served meanwhile do not wait on its CPU. The answer, with what changed since
    `previous_version` (an upload), is under `cabinet/answers/<upload id>/`."""
    ws = workspace()
    return CHECKING_LINE.check(
        handing(
            ws,
            str(upload_id),
            data,
            display_name(client_name),
            school_id,
            period,
            received_at,
            None if previous is None else version_of(previous),
            answers_folder(upload_id),
        )
    )


class CheckingLine:
    """Uploads wait here for a checking process. One dispatcher thread per process takes every upload waiting
    (up to MAX_BATCH) and checks them in one call: a burst of uploads shares the contracts' fixed cost, as the
    pipeline's batches do, instead of paying it once per file. A lone upload goes at once, alone."""

    def __init__(self):
        self.waiting: queue.SimpleQueue[tuple[Handing, Future]] = queue.SimpleQueue()
        self.lock, self.started = threading.Lock(), False

    def check(self, waiting: Handing) -> Handed:
        future: Future = Future()
        self.waiting.put((waiting, future))
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
                answers = in_checking_process(take, [h for h, _ in batch])
            except Exception as exc:  # noqa: BLE001 — every waiting page gets the failure
                answers = [exc] * len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)


CHECKING_LINE = CheckingLine()
CHECKING_CONTEXT = multiprocessing.get_context("fork")  # at the web process's start: nothing to share yet
_checkers: ProcessPoolExecutor | None = None
_checkers_lock = threading.Lock()
_checking_processes = CHECKING_PROCESSES  # this web process's share


def start_checking(web_processes: int = 1) -> None:
    """Start this web process's share of the server's checking processes now (at its start, before requests),
    ready to check."""
    global _checking_processes
    _checking_processes = max(1, CHECKING_PROCESSES // web_processes)
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


def checking_process_start(reference_dir) -> None:
    """A checking process lets go of the sockets its web process listens on (so a stopped or killed server frees
    its port), yields the CPU to the web process's pages, ends with its web process (even one that was killed),
    then loads what checking needs."""
    close_listening_sockets()
    os.nice(CHECKING_NICENESS)
    threading.Thread(target=_end_when_orphaned, args=(os.getppid(),), daemon=True).start()
    preload(reference_dir)


def close_listening_sockets() -> None:
    """Close the listening sockets a forked process inherited; it never accepts connections."""
    for name in os.listdir("/proc/self/fd"):
        try:
            probe = socket.socket(fileno=int(name))
        except OSError:  # not a socket
            continue
        try:
            listening = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        except OSError:
            listening = False
        if listening:
            probe.close()
        else:
            probe.detach()


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
                mp_context=CHECKING_CONTEXT,
                initializer=checking_process_start,
                initargs=(workspace().reference_dir,),
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
