"""Partitions: one per (municipality, reporting period) from the calendars — what staff act on.

Per-school partitions would not scale to a country; per-school detail lives in the warehouse instead.
Partitions are fixed when the definitions load, before any run and its workspace: the code location's reference
data (SVOD_REFERENCE_DIR, else the bundled sample) is read here, once; runs use their workspace's.
"""

from __future__ import annotations

import dagster as dg

from pipeline.config import from_environment
from pipeline.reference import load_reference


def partition_key(municipality: str, period: str) -> str:
    return f"{municipality}.{period.replace('/', '-')}"


LOCATION_REFERENCE = load_reference(from_environment("reference_dir"))
PARTITION_TARGETS: dict[str, tuple[str, str]] = {
    partition_key(m.code, p.code): (m.code, p.code)
    for m in LOCATION_REFERENCE.municipalities.values()
    for p in m.periods
}
municipality_period = dg.StaticPartitionsDefinition(sorted(PARTITION_TARGETS))
