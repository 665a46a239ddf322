"""`svod` with one kill point armed: when the run reaches the named point, the whole process group (the CLI and its
worker processes) is killed with SIGKILL, as a power cut or an OOM kill would.

Run as `python -m tests.support.crash POINT svod-arguments…`, or forked from a server that imported svod once
(`run_svod`, what the tests use: the same process group, a tenth of the start-up). Points are placed by wrapping the pipeline's own
functions (no sleeps): at a step boundary, inside a step's transaction, between a commit and the answers, in the
middle of writing a file.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys


def die() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def arm(target: str, nth: int = 1, after: bool = False) -> None:
    """Kill on the `nth` call of `module:function` (before it runs, or just after it returns)."""
    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    original, calls = getattr(module, name), {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth and not after:
            die()
        result = original(*args, **kwargs)
        if calls["n"] == nth and after:
            die()
        return result

    setattr(module, name, wrapper)


def half_written(target: str, nth: int = 1) -> None:
    """On the `nth` call of `module:function` (atomic_write(path, content) or atomic_copy(source, path)), leave
    half the file in its `.part` and die."""
    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    original, calls = getattr(module, name), {"n": 0}

    def wrapper(first, second, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            path, data = (second, first.read_bytes()) if name == "atomic_copy" else (first, second)
            data = data.encode() if isinstance(data, str) else data
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(f"{path.name}.{os.getpid()}.part").write_bytes(data[: len(data) // 2])
            die()
        return original(first, second, *args, **kwargs)

    setattr(module, name, wrapper)


POINTS = {
    "none": lambda: None,
    # receiving
    "archiving_in_a_worker": lambda: arm("pipeline.intake.inbox:archive_file", nth=2),
    "archived_not_registered": lambda: arm("pipeline.intake.steps:register_received"),
    "registered_unidentified_not_checked": lambda: arm("pipeline.intake.steps:register_received", after=True),
    "after_unidentified_step": lambda: arm("pipeline.in_process:materialize", after=True),
    # checking and loading
    "inside_load_transaction": lambda: arm("pipeline.store.loads:record_answers", nth=2),
    "committed_not_answered": lambda: arm("pipeline.intake.steps:load_results", nth=2, after=True),
    "some_answers_written": lambda: arm("pipeline.intake.steps:write_answer", nth=4),
    "receipt_half_written": lambda: half_written("pipeline.feedback:atomic_write", nth=5),
    # publishing
    "before_indicators": lambda: arm("pipeline.publish.compute:compute"),
    "inside_store_transaction": lambda: arm("pipeline.store.runs:insert_frame", nth=2),
    "before_municipal_summary": lambda: arm("pipeline.publish.municipal:write_municipal"),
    "summary_half_copied": lambda: half_written("pipeline.publish.municipal:atomic_copy"),
    "before_regional_summary": lambda: arm("pipeline.publish.regional:write_regional"),
}


# Imported once by the fork server, so that each `svod` run starts in a fork of it, not a new interpreter
PRELOAD = [
    "pipeline.cli",
    "pipeline.in_process",
    "pipeline.intake.steps",
    "pipeline.publish.municipal",
    "pipeline.publish.regional",
    "tests.support.crash",
]


def svod_process(point: str, args: list[str], env: dict[str, str]) -> None:
    """In a fresh process group (so `die` kills it and its workers, not the test), arm `point` and run `svod`."""
    os.setsid()
    os.environ.update(env)
    POINTS[point]()
    from pipeline.cli import app

    app(args, prog_name="svod")


def run_svod(point: str, args: list[str], env: dict[str, str], timeout: float) -> int:
    """`svod args…` with `point` armed, forked from a server that has imported svod once; its exit code
    (negative for the signal that ended it)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    process = context.Process(target=svod_process, args=(point, args, env))
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.join()
        raise TimeoutError(f"svod {' '.join(args)} did not finish in {timeout} s (kill point {point})")
    return process.exitcode


def main() -> None:
    point, *args = sys.argv[1:]
    POINTS[point]()
    from pipeline.cli import app

    app(args, prog_name="svod")


if __name__ == "__main__":
    main()
