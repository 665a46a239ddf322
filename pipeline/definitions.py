"""The composition root: assets, checks, jobs, sensors and schedules with their resources. Nothing else.

`build_defs(resource_overrides=...)` lets tests and the CLI build the same graph against another workspace.
"""

import dagster as dg

from pipeline.assets import ASSETS, CHECKS
from pipeline.jobs import JOBS, PARTITION_STAGES
from pipeline.resources import SvodWorkspace
from pipeline.schedules import SCHEDULES
from pipeline.sensors import SENSORS

__all__ = ["PARTITION_STAGES", "build_defs", "defs"]


def build_defs(resource_overrides: dict | None = None) -> dg.Definitions:
    resources = {"svod": SvodWorkspace(home=dg.EnvVar("SVOD_HOME"))} | (resource_overrides or {})
    return dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=JOBS, sensors=SENSORS, schedules=SCHEDULES,
                          resources=resources, executor=dg.in_process_executor)


defs = build_defs()
