"""Partitions: one per (municipality, reporting period) from the calendars — what staff act on.

Per-school partitions would not scale to a country; per-school detail lives in the warehouse instead.
"""

from __future__ import annotations

import dagster as dg

from pipeline.reference import load_reference


def partition_key(municipality: str, period: str) -> str:
    return f"{municipality}.{period.replace('/', '-')}"


PARTITION_TARGETS: dict[str, tuple[str, str]] = {
    partition_key(m.code, p.code): (m.code, p.code)
    for m in load_reference().municipalities.values()
    for p in m.periods
}
municipality_period = dg.StaticPartitionsDefinition(sorted(PARTITION_TARGETS))
