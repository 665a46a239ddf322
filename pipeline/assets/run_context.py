"""What the Dagster shells share: the partition a run works on, the settle and regions tags, and metadata
formatting."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.partitions import PARTITION_TARGETS
from pipeline.assets.resources import SvodWorkspace
from pipeline.config import Workspace

SETTLE_TAG = "svod/settle"  # seconds an inbox file must be unchanged before it is taken (the sensor sets 0)
REGIONS_TAG = "svod/regions"  # the regions (codes, comma-separated) whose regional workbooks a run rewrites


def regions_tag(regions) -> dict[str, str]:
    return {REGIONS_TAG: ",".join(sorted(set(regions)))}


def regions_of(context, ws: Workspace) -> list[str]:
    """The regions a run publishes for: those its tag names (a run of one municipality or region touches no
    other region's files), else every region (a run started by hand for all of them)."""
    named = context.run.tags.get(REGIONS_TAG)
    known = ws.reference.regions
    return [r for r in known if r in named.split(",")] if named is not None else list(known)


def target(context) -> tuple[str, str]:
    """(municipality, period) of the run's partition."""
    return PARTITION_TARGETS[context.partition_key]


def partition_work(context, svod: SvodWorkspace) -> tuple[str, str, Workspace]:
    """(municipality, period, workspace) a partitioned asset works on."""
    return (*target(context), svod.workspace())


def settle_seconds(context) -> float:
    return float(context.run.tags.get(SETTLE_TAG, 2))


def md(frame: pd.DataFrame, empty: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else empty)


def file_meta(path: Path) -> dict:
    return {"path": dg.MetadataValue.path(str(path)), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
