"""What one version of a school's return changes in its municipality's published figures: the published run
(which counts it) against the same snapshot without it, where the school's previous accepted version counts
instead (or nothing). That is the choice a methodist makes: keep the version, or return it for correction.

Both sides are suppressed as published (§4), so a change prints as the summaries print: «< 5» stays «< 5».
Nothing is written; the figures without the version are computed from what the warehouse holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.indicators import BY_CODE
from pipeline.domain.vocabulary import Level
from pipeline.publish.compute import compute
from pipeline.reference import Reference
from pipeline.store import queries


@dataclass(frozen=True)
class Change:
    """A published figure that the version moves: from (without it) and to (as published)."""

    indicator: str
    level: Level
    entity: str
    before: float | str | None
    after: float | str | None
    figure_id: str  # the published figure


@dataclass(frozen=True)
class Impact:
    counted: bool  # whether the published run counts this version (else nothing to compare yet)
    changes: list[Change]


def impact(con, ref: Reference, municipality: str, period: str, sha256: str) -> Impact:
    """The municipality's figures, and the school's own, that differ with and without the version `sha256`."""
    run = queries.published_run_of(con, municipality, period)
    if run is None or run.source_file is not None:
        return Impact(False, [])
    _, _, snapshot = queries.run_inputs(con, run.run_id)
    counted = queries.current_returns(con, snapshot)
    if sha256 not in set(counted["sha256"]):
        return Impact(False, [])
    school = counted.set_index("sha256").at[sha256, "school_id"]
    before = compute(con, ref, municipality, period, [s for s in snapshot if s != sha256]).shown()
    changes = []
    for code, level, entity, p, num, den, hidden, fid in queries.run_figures(con, run.run_id):
        if entity not in (municipality, school):
            continue
        after = BY_CODE[code].figure(Level(level), entity, p, num, den, hidden)
        was = before.get((code, entity))
        if not _same(was, after.shown):
            changes.append(Change(code, Level(level), entity, was, after.shown, fid))
    order = {i: n for n, i in enumerate(BY_CODE)}
    changes.sort(key=lambda c: (c.level is not Level.MUNICIPALITY, order[c.indicator]))
    return Impact(True, changes)


def _same(a: float | str | None, b: float | str | None) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) < 1e-9
    return a == b
