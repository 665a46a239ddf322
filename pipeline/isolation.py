"""Start-up guards and per-file isolation for parsing untrusted workbooks.

Every return is parsed in a forked child with a memory cap and a timeout, so a decompression bomb or a parser
hang costs that one file, not the run. The guards refuse to start when the XML stack lacks the protections the
pre-check relies on (defusedxml for openpyxl, an Expat with billion-laughs protection).
"""

from __future__ import annotations

import multiprocessing
import resource
import traceback
from dataclasses import dataclass

PARSE_TIMEOUT_SECONDS = 60
PARSE_MEMORY_MB = 1536
MIN_EXPAT = (2, 4, 1)  # first Expat with protection against entity amplification


class GuardError(RuntimeError):
    pass


def check_guards() -> None:
    """Raise if the XML libraries are not the hardened ones the pipeline assumes."""
    import pyexpat

    from openpyxl.xml import DEFUSEDXML

    if not DEFUSEDXML:
        raise GuardError("openpyxl is running without defusedxml; install defusedxml")
    if pyexpat.version_info < MIN_EXPAT:
        raise GuardError(f"Expat {pyexpat.EXPAT_VERSION} lacks entity-amplification protection; need >= 2.4.1")


@dataclass
class Outcome:
    value: object = None
    failure: str | None = None   # "timeout", "memory" or "crash"
    detail: str = ""


def _child(conn, fn, args, memory_mb):
    try:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        conn.send(Outcome(value=fn(*args)))
    except MemoryError:
        conn.send(Outcome(failure="memory"))
    except BaseException as exc:  # the parent decides what a crash means for the file
        conn.send(Outcome(failure="crash", detail=f"{type(exc).__name__}: {exc}"[:300] or traceback.format_exc(limit=1)))
    finally:
        conn.close()


def run_isolated(fn, *args, timeout: float = PARSE_TIMEOUT_SECONDS, memory_mb: int = PARSE_MEMORY_MB) -> Outcome:
    """Run fn(*args) in a forked child under a memory cap; never raises for what happens inside."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, fn, args, memory_mb), daemon=True)
    process.start()
    child.close()
    try:
        if parent.poll(timeout):
            try:
                return parent.recv()
            except EOFError:
                pass
        else:
            return Outcome(failure="timeout")
        return Outcome(failure="memory" if process.exitcode and process.exitcode < 0 else "crash")
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()
