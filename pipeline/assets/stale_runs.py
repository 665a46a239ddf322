"""Runs of a workspace's Dagster instance that died without ending: found, marked failed and their pool slots freed,
so a killed run never blocks the next one. Also how long a run may wait for the `duckdb` pool.

A run is dead when it is still marked started but the process that executed it is gone: its pid is the one
Dagster itself records in the run's engine events, and a process with that pid that started after that record
is a stranger reusing the number. The reason goes into the run's own log in Russian (`report_run_failed`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType

POOL = "duckdb"
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
NO_PID_GRACE_SECONDS = 600  # a run that recorded no process yet is left alone this long


class PoolBusy(RuntimeError):
    """The warehouse stayed taken by another live run for longer than a run may wait; the message is for staff."""


@dataclass
class Stuck:
    run_id: str
    job: str
    started: float | None
    pid: int | None
    alive: bool


def run_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid Dagster recorded for the process executing the run, and when it recorded it (its first engine
    event naming one)."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            return int(pid.value), entry.timestamp
    return None


def _process_started(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
    except (OSError, ValueError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def unfinished_runs(instance: dg.DagsterInstance) -> list[Stuck]:
    """Every run of the instance still marked as running, with whether its process is alive."""
    found = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run_id, started = record.dagster_run.run_id, record.start_time or record.create_timestamp.timestamp()
        recorded = run_pid(instance, run_id)
        pid = recorded[0] if recorded else None
        if recorded is None:
            alive = time.time() - started < NO_PID_GRACE_SECONDS
        else:  # the process began before Dagster recorded its pid (a run may wait in the queue long before)
            began = _process_started(pid)
            alive = began is not None and began <= recorded[1] + 1
        found.append(Stuck(run_id, record.dagster_run.job_name, started, pid, alive))
    return found


def reap_dead_runs(instance: dg.DagsterInstance) -> list[Stuck]:
    """Mark dead runs failed with a Russian reason and free every pool slot a finished run still holds."""
    dead = [s for s in unfinished_runs(instance) if not s.alive]
    for s in dead:
        run = instance.get_run_by_id(s.run_id)
        instance.report_run_failed(
            run,
            f"Запуск прерван: процесс, который его выполнял (pid {s.pid or 'не записан'}), "
            "завершился аварийно (например, был остановлен или перезапущен сервер). "
            "Данные, которые он не успел записать, будут обработаны следующим запуском.",
        )
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        running = {s.run_id for s in unfinished_runs(instance) if s.alive}
        for run_id in storage.get_concurrency_run_ids() - running:
            storage.free_concurrency_slots_for_run(run_id)
    return dead


def wait_for_pool(instance: dg.DagsterInstance, timeout: float, notify=lambda text: None) -> None:
    """Return once the `duckdb` pool has a free slot; dead holders are reaped on the way. Raises PoolBusy naming
    the run it waited for after `timeout` seconds."""
    deadline, told = time.monotonic() + timeout, False
    while True:
        reap_dead_runs(instance)
        info = instance.event_log_storage.get_concurrency_info(POOL)
        limit = info.slot_count or info.limit or 1
        holders = sorted(info.active_run_ids)
        if len(info.claimed_slots) < limit:
            return
        if time.monotonic() > deadline:
            raise PoolBusy(
                f"Хранилище занято запуском {', '.join(holders)} дольше {timeout:.0f} с. Дождитесь его "
                "окончания (svod status покажет незавершённые запуски) и повторите."
            )
        if not told:
            notify(f"Хранилище занято запуском {', '.join(holders)}; ждём до {timeout:.0f} с…")
            told = True
        time.sleep(1)
