"""Running the Dagster assets in-process for the CLI, the demo and the tests, on a workspace's own Dagster
instance (`<home>/.dagster`), so a CLI run and a UI run are the same run and both show in the UI's history.
Before each run, runs left dead by a killed process are marked failed and release the warehouse pool."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.events import RunFailureReason
from dagster._core.storage.tags import RUN_FAILURE_REASON_TAG, WILL_RETRY_TAG

from pipeline.assets.jobs import PARTITION_STAGES
from pipeline.assets.partitions import partition_key
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import SETTLE_TAG, regions_tag
from pipeline.assets.sensors import run_request_for
from pipeline.assets.stale_runs import wait_for_pool
from pipeline.config import ENVIRONMENT, Workspace, from_environment
from pipeline.definitions import build_defs
from pipeline.files import atomic_write
from pipeline.intake import run_requests
from pipeline.intake.run_requests import REQUEST_TAG

DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")
POOL_WAIT_SECONDS = 600  # how long a run waits for another live run to release the warehouse
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class RunFailed(RuntimeError):
    """A materialization did not succeed; details are in the Dagster run's log."""


def instance(ws: Workspace) -> dg.DagsterInstance:
    """The workspace's Dagster instance, with svod's instance settings (pools, telemetry off)."""
    return dg.DagsterInstance.from_config(str(write_instance_settings(ws)))


def migrated_instance(ws: Workspace) -> dg.DagsterInstance:
    """The instance, its storage upgraded as `dagster instance migrate` does, once per Dagster version (the
    version last migrated for is kept beside the settings: with SQLite storage an upgrade reads every run)."""
    inst = instance(ws)
    done = ws.home / ".dagster" / "migrated_for"
    if not done.exists() or done.read_text(encoding="utf-8") != dg.__version__:
        inst.upgrade()
        atomic_write(done, dg.__version__)
    return inst


def write_instance_settings(ws: Workspace) -> Path:
    """`<home>/.dagster/dagster.yaml`: svod's instance settings, with run, event and schedule storage on
    PostgreSQL when SVOD_DAGSTER_DATABASE is set (production), else Dagster's SQLite files there."""
    dagster_home = ws.home / ".dagster"
    dagster_home.mkdir(exist_ok=True)
    settings = yaml.safe_load(DAGSTER_YAML.read_text(encoding="utf-8"))
    if from_environment("dagster_database"):
        settings["storage"] = {"postgres": {"postgres_url": {"env": ENVIRONMENT["dagster_database"]}}}
    atomic_write(dagster_home / "dagster.yaml", yaml.safe_dump(settings, sort_keys=False))
    return dagster_home


def resource(ws: Workspace) -> SvodWorkspace:
    return SvodWorkspace(
        home=str(ws.home),
        signing_key=ws.signing_key or "",
        reference_dir=str(ws.reference_dir or ""),
        duckdb_memory=ws.duckdb_memory,
    )


def materialize(
    ws: Workspace,
    inst: dg.DagsterInstance,
    names: list[str],
    partition: str | None = None,
    tags: dict | None = None,
    notify: Callable[[str], None] = print,
) -> dg.ExecuteInProcessResult:
    """Run the named assets (and their checks) in this process, once the warehouse pool is free."""
    wait_for_pool(inst, POOL_WAIT_SECONDS, notify)
    svod = resource(ws)
    defs = build_defs({"svod": svod})
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=names,
        partition_key=partition,
        instance=inst,
        resources={"svod": svod},
        tags=tags or {},
        raise_on_error=False,
        run_config=QUIET,
    )
    if not result.success:
        raise RunFailed(
            f"Ошибка при выполнении {', '.join(names)} (подробности — в журнале Dagster, svod ui)."
        )
    return result


def consolidate(
    ws: Workspace,
    targets: list[tuple[str, str]],
    settle: float = 2.0,
    progress: Callable[[Iterable], Iterable] = iter,
    notify: Callable[[str], None] = print,
) -> None:
    """Receive the inbox, check and load each target's returns, publish their municipal summaries and the
    regional summaries of their regions (no other region's)."""
    inst = instance(ws)
    tags = {SETTLE_TAG: str(settle)}
    materialize(ws, inst, ["unidentified_returns"], tags=tags, notify=notify)
    for municipality, period in progress(targets):
        materialize(ws, inst, PARTITION_STAGES, partition_key(municipality, period), tags=tags, notify=notify)
    regions = regions_tag(ws.reference.municipalities[m].region for m, _ in targets)
    materialize(ws, inst, ["regional_summary"], tags=regions, notify=notify)


def run_asked(ws: Workspace) -> list[str]:
    """Run, in this process, what staff asked for and no run has taken yet (what Dagster's daemon does through
    the `staff_requests` sensor; here for tests and a server without the daemon). Returns the request ids."""
    inst = instance(ws)
    done = []
    for asked in run_requests.waiting(ws, set()):
        if inst.get_runs(filters=dg.RunsFilter(tags={REQUEST_TAG: asked.id}), limit=1):
            continue
        request = run_request_for(asked)
        tags = dict(request.tags)
        if asked.kind == "consolidate":
            materialize(ws, inst, PARTITION_STAGES, request.partition_key, tags=tags)
        followed = tags if asked.kind == "regional" else {k: v for k, v in tags.items() if k != REQUEST_TAG}
        materialize(ws, inst, ["regional_summary"], tags=followed)  # as the regional sensor follows a run
        done.append(asked.id)
    return done


@dataclass
class RunProgress:
    """Where a requested run stands, for the person who asked: a state of `STATES` and what it has done."""

    state: str
    text: str
    finished_at: datetime | None = None  # aware


STATES = {  # Dagster's run status -> the cabinet's words for a job (cabinet.models.JobState)
    dg.DagsterRunStatus.QUEUED: "queued",
    dg.DagsterRunStatus.NOT_STARTED: "queued",
    dg.DagsterRunStatus.STARTING: "running",
    dg.DagsterRunStatus.STARTED: "running",
    dg.DagsterRunStatus.CANCELING: "running",
    dg.DagsterRunStatus.SUCCESS: "done",
    dg.DagsterRunStatus.FAILURE: "failed",
    dg.DagsterRunStatus.CANCELED: "failed",
}
STOPPED = "не выполнено: работа прервана (сервер остановили или перезапустили)"
FAILED = {  # why a run failed (Dagster's failure reason), for the person who asked
    RunFailureReason.UNEXPECTED_TERMINATION.value: STOPPED,
    RunFailureReason.RUN_WORKER_RESTART.value: STOPPED,
    RunFailureReason.START_TIMEOUT.value: "не выполнено: работа не смогла начаться",
    "": "не выполнено из-за ошибки на сервере (подробности — в журнале Dagster)",
}
AGAIN = ". Запустите ещё раз; если не получится снова, сообщите администратору"
STAGES = {  # what each asset's materialization means to staff
    "received_files": "файлы приняты",
    "checked_returns": "отчёты проверены",
    "staff_decisions": "решения методиста учтены",
    "indicators": "показатели рассчитаны",
    "municipal_summary": "сводка выпущена",
    "regional_summary": "сводка региона выпущена",
}


def progress(inst: dg.DagsterInstance, request_id: str) -> RunProgress:
    """The progress of the run a request asked for (not started yet when there is none): its latest, so a run
    Dagster retries (the retry keeps the request's tag) is followed to the retry's end, and one failed that
    Dagster will retry is still under way."""
    records = inst.get_run_records(filters=dg.RunsFilter(tags={REQUEST_TAG: request_id}))
    if not records:
        return RunProgress("queued", "ждёт запуска")
    record = max(records, key=lambda r: r.create_timestamp)
    run = record.dagster_run
    state = STATES.get(run.status, "running")
    if state == "failed" and run.tags.get(WILL_RETRY_TAG) == "true":
        return RunProgress("queued", "прервано; Dagster запустит снова")
    stages = [
        STAGES.get(e.dagster_event.asset_key.path[-1], "")
        for e in inst.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    ]
    text = {
        "queued": "в очереди Dagster",
        "failed": FAILED.get(run.tags.get(RUN_FAILURE_REASON_TAG, ""), FAILED[""]) + AGAIN,
    }.get(state, stages[-1] if stages else "начат")
    ended = record.end_time if state in ("done", "failed") else None
    return RunProgress(state, text, datetime.fromtimestamp(ended, tz=UTC) if ended else None)
