"""The composition root: assets, checks, jobs, sensors and schedules with their resources. Nothing else.

`build_defs(resource_overrides=...)` lets tests and the CLI build the same graph against another workspace.
The default resource takes its settings from the environment (SVOD_HOME, SVOD_SIGNING_KEY, SVOD_REFERENCE_DIR,
SVOD_DUCKDB_MEMORY), resolved when a run starts, not at import.
"""

import dagster as dg

from pipeline.config import WORKSPACE_ENVIRONMENT, from_environment
from pipeline.defs.assets_intake import checked_returns, received_files, unidentified_returns
from pipeline.defs.assets_publish import indicators, municipal_summary, regional_summary
from pipeline.defs.assets_schools import missing_reminders, school_templates
from pipeline.defs.checks import contracts_hold, rows_reconcile, totals_reconcile
from pipeline.defs.jobs import JOBS
from pipeline.defs.resources import SvodWorkspace
from pipeline.defs.schedules import SCHEDULES
from pipeline.defs.sensors import SENSORS

ASSETS = [school_templates, unidentified_returns, received_files, checked_returns, indicators, municipal_summary,
          regional_summary, missing_reminders]
CHECKS = [rows_reconcile, contracts_hold, totals_reconcile]


def environment_resource() -> SvodWorkspace:
    """The workspace resource with each setting that is set in the environment read from there at run time."""
    return SvodWorkspace(**{name: dg.EnvVar(variable) for name, variable in WORKSPACE_ENVIRONMENT.items()
                            if name == "home" or from_environment(name)})


def build_defs(resource_overrides: dict | None = None) -> dg.Definitions:
    resources = {"svod": environment_resource()} | (resource_overrides or {})
    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=JOBS, sensors=SENSORS, schedules=SCHEDULES,
                          resources=resources, executor=dg.in_process_executor)


defs = build_defs()
