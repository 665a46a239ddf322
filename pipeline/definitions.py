"""The composition root: load assets, checks, sensors and schedules, wire resources. Nothing else.

`build_defs(resource_overrides=...)` lets tests and the CLI build the same graph against another workspace.
"""

from __future__ import annotations

import dagster as dg

from pipeline.assets import ASSETS, CHECKS
from pipeline.resources import SvodWorkspace

DEFAULT_HOME = "svod_home"


def build_defs(resource_overrides: dict | None = None) -> dg.Definitions:
    resources = {"svod": SvodWorkspace(home=dg.EnvVar("SVOD_HOME"))} | (resource_overrides or {})
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_defs()
