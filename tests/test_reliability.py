"""Faults: parser bombs and hangs cost one file, a killed load leaves nothing half-written, two writers take
turns, and the XML stack is the hardened one."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime

import pytest

from pipeline.intake import examine, workers
from pipeline.intake.steps import process_pending, receive_inbox
from pipeline.isolation import IsolatedPool
from pipeline.store import queries, warehouse
from pipeline.xlsx.reader import read_workbook
from tests.support import check_return

RECEIVED = datetime(2025, 12, 21, 10)


def _sleep(seconds):
    time.sleep(seconds)
    return "woke"


def _hog(mb):
    return len(bytearray(mb * 1024 * 1024))


def _boom():
    raise ValueError("сломано")


def run_isolated(fn, *args, **limits):
    with IsolatedPool(fn, workers=1, **limits) as pool:
        return next(pool.map([args]))


def test_isolation_turns_hangs_bombs_and_crashes_into_outcomes():
    assert run_isolated(_sleep, 0, timeout=10).value == "woke"
    started = time.monotonic()
    assert run_isolated(_sleep, 30, timeout=1).failure == "timeout"
    assert time.monotonic() - started < 10
    assert run_isolated(_hog, 600, memory_mb=300).failure == "memory"
    crash = run_isolated(_boom)
    assert crash.failure == "crash" and "сломано" in crash.detail


def _task(kind):
    if kind == "die":
        os._exit(3)  # the worker process vanishes mid-task
    if kind == "hang":
        return _sleep(30)
    if kind == "hog":
        return _hog(600)
    if kind == "boom":
        return _boom()
    return kind


def test_a_pool_replaces_failed_workers_and_keeps_order():
    kinds = ["a", "hang", "b", "die", "c", "hog", "d", "boom", "e"]
    with IsolatedPool(_task, workers=2, timeout=2, memory_mb=300) as pool:
        outcomes = list(pool.map([(k,) for k in kinds]))
    assert [o.value for o in outcomes if o.failure is None] == ["a", "b", "c", "d", "e"]
    assert [o.failure for o in outcomes if o.failure] == ["timeout", "crash", "memory", "crash"]


def test_a_hanging_parse_rejects_only_that_file(make_return, ws, monkeypatch):
    good, slow = make_return(seed=1), make_return(seed=2)
    real = examine.read_workbook

    def maybe_hang(path, *args):
        if path == slow:
            time.sleep(60)
        return real(path, *args)

    monkeypatch.setattr(examine, "read_workbook", maybe_hang)
    monkeypatch.setattr(workers, "PARSE_TIMEOUT_SECONDS", 2)
    hung = check_return(slow, ws, RECEIVED)
    assert hung.verdict == "rejected" and [i.rule for i in hung.issues] == ["F07"]
    assert check_return(good, ws, RECEIVED).verdict == "accepted"


def _load_then_die(home, path, started):
    from pipeline.config import Workspace
    from pipeline.store import loads

    ws = Workspace.resolve(home)
    original = loads.insert_frame
    calls = {"n": 0}

    def slow_insert(con, table, frame):
        original(con, table, frame)
        calls["n"] += 1
        if calls["n"] == 3:
            started.set()
            time.sleep(60)  # killed here, in the middle of the submission's transaction

    loads.insert_frame = slow_insert
    with ws.connect() as con:
        process_pending(ws, con, "arkhangelsk", "2025-Q4")


def test_a_load_killed_midway_leaves_no_partial_submission(make_return, ws):
    shutil.copy(make_return(), ws.inbox / "ARH-001.xlsx")
    os.utime(ws.inbox / "ARH-001.xlsx", (RECEIVED.timestamp(), RECEIVED.timestamp()))
    with warehouse.connect(ws.database) as con:
        receive_inbox(ws, con, 0, only=("arkhangelsk", "2025-Q4"))
        before = queries.content_hash(con)
    started = multiprocessing.get_context("fork").Event()
    child = multiprocessing.get_context("fork").Process(
        target=_load_then_die, args=(str(ws.home), None, started)
    )
    child.start()
    assert started.wait(60)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    with warehouse.connect(ws.database) as con:
        assert queries.content_hash(con) == before  # nothing of the killed transaction survived
        assert con.execute("SELECT verdict FROM submission").fetchone()[0] == "pending"
        [result] = process_pending(ws, con, "arkhangelsk", "2025-Q4")  # a restart converges
        assert result.verdict == "accepted"
        assert result.book is None  # stored and answered: the results keep no parsed frames
        mentors = read_workbook(result.source).sheets["mentors"].frame
        assert con.execute("SELECT count(*) FROM fact_mentors").fetchone()[0] == len(mentors)


def _hold_writer(path, held, seconds):
    import duckdb

    con = duckdb.connect(str(path))
    held.set()
    time.sleep(seconds)
    con.close()


@pytest.mark.slow  # a writer holds the warehouse for seconds
def test_a_second_writer_waits_for_the_first(ws, monkeypatch):
    with warehouse.connect(ws.database):
        pass
    ctx = multiprocessing.get_context("fork")
    held = ctx.Event()
    holder = ctx.Process(target=_hold_writer, args=(ws.database, held, 3))
    holder.start()
    assert held.wait(30)
    started = time.monotonic()
    with warehouse.connect(ws.database) as con:
        waited = time.monotonic() - started
        assert con.execute("SELECT 1").fetchone() == (1,)
    holder.join(10)
    assert waited > 1  # it waited for the lock instead of failing

    holder = ctx.Process(target=_hold_writer, args=(ws.database, held := ctx.Event(), 10))
    holder.start()
    assert held.wait(30)
    monkeypatch.setattr(warehouse, "LOCK_WAIT_SECONDS", 1)
    with pytest.raises(warehouse.WarehouseBusy, match="занято"):
        with warehouse.connect(ws.database):
            pass
    holder.kill()
    holder.join(10)


@pytest.mark.slow
def test_reliability_report_on_a_reduced_corpus():
    from samples.reliability import run_report

    report = run_report(n_fuzz=40)
    hand_made = sum(n for kind, n in report.tried.items() if kind != "mutation")
    assert hand_made >= 60 and report.tried["mutation"] == 40
    assert set(report.tried) == {
        "not a workbook",
        "wrong workbook kind",
        "hostile",
        "wrong template",
        "messy but honest values",
        "mutation",
    }
    assert report.clean, "\n".join(report.lines())
    assert report.rows_loaded > 0 and report.rows_rejected > 0


def test_canary_name_is_not_in_dagster_events_or_logs(published):
    from .conftest import CANARY

    needle = CANARY.encode()
    for path in (published.home / ".dagster").rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def _publish_then_die(home, started):
    from pipeline.config import Workspace
    from pipeline.publish.municipal import publish

    ws = Workspace.resolve(home)
    real_replace = os.replace

    def slow_replace(src, dst):
        started.set()
        time.sleep(60)  # killed between writing the new file and renaming it into place
        real_replace(src, dst)

    os.replace = slow_replace
    with ws.connect() as con:
        publish(con, ws.reference, ws.out, "kedrovy", "2025", ws.key)


def test_a_publish_killed_midway_leaves_the_previous_summary_intact(published, tmp_path):
    import openpyxl

    home = tmp_path / "home"
    shutil.copytree(published.home, home, ignore=shutil.ignore_patterns(".dagster"))
    latest = home / "out" / "kedrovy" / "svod_kedrovy_2025.xlsx"
    before = latest.read_bytes()
    # a new accepted return makes the next summary differ from the published one
    with warehouse.connect(home / "svod.duckdb") as con:
        con.execute(
            "UPDATE submission SET verdict = 'rejected' WHERE sha256 = (SELECT min(sha256) FROM current_submission)"
        )
    ctx = multiprocessing.get_context("fork")
    started = ctx.Event()
    child = ctx.Process(target=_publish_then_die, args=(str(home), started))
    child.start()
    assert started.wait(120)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert latest.read_bytes() == before
    openpyxl.load_workbook(latest)  # still a valid workbook


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill_up(mount):
    with open(mount / "ballast", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_a_full_disk_keeps_outputs_and_leaves_inbox_files_pending(
    published, tmp_path, tiny_disk, make_return
):
    import errno

    from pipeline.config import Workspace
    from pipeline.publish.municipal import publish

    home = tmp_path / "home"
    shutil.copytree(published.home, home, ignore=shutil.ignore_patterns(".dagster", "out", "archive"))
    ws = Workspace.resolve(home)
    shutil.rmtree(ws.out)
    ws.out.symlink_to(tiny_disk)
    with warehouse.connect(ws.database) as con:
        publish(con, ws.reference, ws.out, "kedrovy", "2025", ws.key)
        latest = ws.out / "kedrovy" / "svod_kedrovy_2025.xlsx"
        before = latest.read_bytes()
        _fill_up(tiny_disk)
        with pytest.raises(OSError) as full:
            con.execute(
                "UPDATE submission SET verdict = 'rejected' WHERE sha256 = (SELECT min(sha256) FROM current_submission)"
            )
            publish(con, ws.reference, ws.out, "kedrovy", "2025", ws.key)
        assert full.value.errno == errno.ENOSPC
        assert latest.read_bytes() == before
        # the archive is full too: a new return stays in the inbox and nothing is registered
        shutil.rmtree(ws.archive)
        ws.archive.symlink_to(tiny_disk)
        shutil.copy(make_return(), ws.inbox / "ARH-001.xlsx")
        os.utime(ws.inbox / "ARH-001.xlsx", (RECEIVED.timestamp(), RECEIVED.timestamp()))
        count = con.execute("SELECT count(*) FROM received_file").fetchone()[0]
        with pytest.raises(OSError):
            receive_inbox(ws, con, 0, only=("arkhangelsk", "2025-Q4"))
        assert (ws.inbox / "ARH-001.xlsx").exists()
        assert con.execute("SELECT count(*) FROM received_file").fetchone()[0] == count
