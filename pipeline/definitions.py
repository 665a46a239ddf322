"""The composition root: assets, checks, jobs, sensors and schedules with their resources. Nothing else.

`build_defs(resource_overrides=...)` lets tests and the CLI build the same graph against another workspace.
The default resource takes its settings from the environment (SVOD_HOME, SVOD_SIGNING_KEY, SVOD_REFERENCE_DIR,
SVOD_DUCKDB_MEMORY), resolved when a run starts, not at import.
"""

import dagster as dg

from pipeline.assets.checks import contracts_hold, rows_reconcile, totals_reconcile
from pipeline.assets.intake import checked_returns, received_files, staff_decisions, unidentified_returns
from pipeline.assets.jobs import JOBS
from pipeline.assets.publishing import indicators, municipal_summary, regional_summary
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.schedules import SCHEDULES
from pipeline.assets.schools import missing_reminders, school_templates
from pipeline.assets.sensors import SENSORS
from pipeline.config import WORKSPACE_ENVIRONMENT, from_environment

ASSETS = [
    school_templates,
    unidentified_returns,
    received_files,
    checked_returns,
    staff_decisions,
    indicators,
    municipal_summary,
    regional_summary,
    missing_reminders,
]
CHECKS = [rows_reconcile, contracts_hold, totals_reconcile]


def environment_resource() -> SvodWorkspace:
    """The workspace resource with each setting that is set in the environment read from there at run time."""
    return SvodWorkspace(
        **{
            name: dg.EnvVar(variable)
            for name, variable in WORKSPACE_ENVIRONMENT.items()
            if name == "home" or from_environment(name)
        }
    )


def build_defs(resource_overrides: dict | None = None) -> dg.Definitions:
    resources = {"svod": environment_resource()} | (resource_overrides or {})
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=JOBS,
        sensors=SENSORS,
        schedules=SCHEDULES,
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_defs()
