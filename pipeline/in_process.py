"""Running the Dagster assets in-process for the CLI, the demo and the tests, on a workspace's own Dagster
instance (`<home>/.dagster`), so a CLI run and a UI run are the same run and both show in the UI's history.
Before each run, runs left dead by a killed process are marked failed and release the warehouse pool."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg
import yaml

from pipeline.assets.jobs import PARTITION_STAGES
from pipeline.assets.partitions import partition_key
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import SETTLE_TAG, regions_tag
from pipeline.assets.stale_runs import wait_for_pool
from pipeline.config import ENVIRONMENT, Workspace, from_environment
from pipeline.definitions import build_defs
from pipeline.files import atomic_write

DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")
POOL_WAIT_SECONDS = 600  # how long a run waits for another live run to release the warehouse
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class RunFailed(RuntimeError):
    """A materialization did not succeed; details are in the Dagster run's log."""


def instance(ws: Workspace) -> dg.DagsterInstance:
    """The workspace's Dagster instance, with svod's instance settings (pools, telemetry off)."""
    return dg.DagsterInstance.from_config(str(write_instance_settings(ws)))


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
