"""Start-up guards and per-file isolation for parsing untrusted workbooks.

Returns are parsed in long-lived worker processes, one file at a time per worker, each under a memory cap and
a per-file timeout: a decompression bomb, a parser hang or a crash costs that one file (and a worker restart),
not the run. The guards refuse to start when the XML stack lacks the protections the pre-check relies on
(defusedxml for openpyxl, an Expat with billion-laughs protection).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

PARSE_TIMEOUT_SECONDS = 60
PARSE_MEMORY_MB = 1536  # how much a worker may grow beyond what it inherited
WORKERS = min(2, os.cpu_count() or 1)
PREFETCH = 2  # files sent ahead to each worker, so it never waits for the parent to hand it the next one
MIN_EXPAT = (2, 4, 1)  # first Expat with protection against entity amplification


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def end_with_parent(parent: int) -> None:
    """In a helper process as it starts (a service of svod serve, a template writer, a forked helper): the kernel
    stops it when `parent`, the process that started it, dies, so none is left orphaned, whatever handler of
    the signal it inherited. A parent that died before the helper could ask is caught here: the helper stops."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


class GuardError(RuntimeError):
    pass


def check_guards() -> None:
    """Raise if the XML libraries are not the hardened ones the pipeline assumes."""
    import pyexpat

    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:
        raise GuardError("openpyxl is running without defusedxml; install defusedxml")
    if pyexpat.version_info < MIN_EXPAT:
        raise GuardError(
            f"Expat {pyexpat.EXPAT_VERSION} lacks entity-amplification protection; need >= 2.4.1"
        )


@dataclass
class Outcome:
    value: object = None
    failure: str | None = None  # "timeout", "memory" or "crash"
    detail: str = ""


def _cap_memory(memory_mb: int) -> None:
    with open("/proc/self/statm") as fh:
        inherited = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = inherited + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(conn, fn: Callable, memory_mb: int) -> None:
    """A worker: apply fn to each task until the pipe closes or the parent dies; a MemoryError ends the worker."""
    _cap_memory(memory_mb)
    parent = os.getppid()
    while True:
        try:
            if not conn.poll(1.0):
                if os.getppid() != parent:  # orphaned: the parent was killed
                    return
                continue
            args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(Outcome(value=fn(*args)))
        except MemoryError:
            conn.send(Outcome(failure="memory"))
            return
        except BaseException as exc:  # the parent decides what a crash means for the file
            conn.send(
                Outcome(
                    failure="crash",
                    detail=f"{type(exc).__name__}: {exc}"[:300] or traceback.format_exc(limit=1),
                )
            )


class _Worker:
    def __init__(self, fn: Callable, memory_mb: int):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, fn, memory_mb), daemon=True)
        self.process.start()
        child.close()
        self.started = 0.0  # when its current file began

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        if not self.conn.closed:
            self.conn.close()


class IsolatedPool:
    """fn applied to many argument tuples in worker processes; results (`Outcome`s) come back in input order.

    Workers are forked when the pool opens, so they share the parent's loaded catalogue and reference data. A
    dispatcher thread keeps them busy while the caller consumes results; a worker that hangs past `timeout`,
    dies, or runs out of memory is replaced and only its file fails.
    """

    def __init__(
        self,
        fn: Callable,
        workers: int = WORKERS,
        timeout: float = PARSE_TIMEOUT_SECONDS,
        memory_mb: int = PARSE_MEMORY_MB,
    ):
        self.fn, self.timeout, self.memory_mb = fn, timeout, memory_mb
        self.workers = [_Worker(fn, memory_mb) for _ in range(max(1, workers))]
        self._wake, self._waker = multiprocessing.get_context("fork").Pipe(duplex=False)
        self._thread: threading.Thread | None = None

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, *exc) -> None:
        self._waker.send(None)
        if self._thread is not None:
            self._thread.join()
        for w in self.workers:
            w.stop()
        self._wake.close()
        self._waker.close()

    def map(self, tasks: Iterable[tuple]) -> Iterator[Outcome]:
        tasks = list(tasks)
        done: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._dispatch, args=(tasks, done), daemon=True)
        self._thread.start()
        ready: dict[int, Outcome] = {}
        for i in range(len(tasks)):
            while i not in ready:
                index, outcome = done.get()
                if index is None:  # the dispatcher itself failed
                    raise outcome
                ready[index] = outcome
            yield ready.pop(i)

    def _replace(self, w: _Worker) -> _Worker:
        w.stop()
        fresh = _Worker(self.fn, self.memory_mb)
        self.workers[self.workers.index(w)] = fresh
        return fresh

    def _dispatch(self, tasks: list[tuple], done: queue.Queue) -> None:
        try:
            self._run(tasks, done)
        except BaseException as exc:
            done.put((None, exc))

    def _run(self, tasks: list[tuple], done: queue.Queue) -> None:
        todo = deque(enumerate(tasks))
        sent: dict[_Worker, deque] = {w: deque() for w in self.workers}  # per worker, oldest (running) first

        def feed(w: _Worker) -> None:
            while todo and len(sent[w]) < PREFETCH:
                try:
                    w.conn.send(todo[0][1])
                except OSError:  # BrokenPipeError among others
                    # died idle: replace it; died busy: its pipe reports EOF below
                    if not sent[w]:
                        retire(w)
                    return
                if not sent[w]:
                    w.started = time.monotonic()
                sent[w].append(todo.popleft())

        def retire(w: _Worker) -> None:
            """Replace the worker; what it was sent but never started goes back to the front of the queue."""
            todo.extendleft(reversed(sent.pop(w)))
            sent[self._replace(w)] = deque()

        def settle(w: _Worker, outcome: Outcome) -> None:
            index, _ = sent[w].popleft()
            done.put((index, outcome))
            w.started = time.monotonic()
            if outcome.failure is not None and (outcome.failure != "crash" or not w.process.is_alive()):
                retire(w)

        while todo or any(sent.values()):
            for w in list(sent):
                feed(w)
            busy = {w.conn: w for w, queued in sent.items() if queued}
            if not busy:
                continue
            deadline = min(w.started for w in busy.values()) + self.timeout
            ready = wait([*busy, self._wake], timeout=max(0.0, deadline - time.monotonic()))
            if self._wake in ready:  # the pool is closing
                return
            for conn in ready:
                w = busy[conn]
                try:
                    outcome = conn.recv()
                except (EOFError, OSError):
                    w.process.join(5)
                    code = w.process.exitcode
                    outcome = Outcome(failure="memory" if code is not None and code < 0 else "crash")
                settle(w, outcome)
            now = time.monotonic()
            for w in list(busy.values()):
                if w in sent and sent[w] and now - w.started > self.timeout:
                    settle(w, Outcome(failure="timeout"))
