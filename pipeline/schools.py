"""Issuing templates to schools: which ОО of a municipality get one for a period, and what each is prefilled
with (its registries carried forward from its last accepted return). The layout itself is `pipeline.xlsx.templates`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipeline.reference import Issuer
from pipeline.store.queries import carried_forward
from pipeline.xlsx.templates import write_template


def issue_templates(
    con,
    issuer: Issuer,
    out_dir: Path,
    municipality: str,
    period_code: str,
    schools: list[str] | None = None,
    issued: date | None = None,
    progress=iter,
) -> tuple[list[Path], int]:
    """Templates for the municipality's ОО (or the listed ones), each prefilled with its carried-forward
    registries; returns the paths and how many templates carried data forward."""
    m = issuer.reference.municipalities[municipality]
    period = m.period(period_code)
    paths, carried = [], 0
    for school in progress([s for s in m.schools if not schools or s.id in schools]):
        previous = carried_forward(con, school.id, period.start) if con is not None else {}
        carried += bool(previous)
        paths.append(
            write_template(
                out_dir, issuer, municipality, period_code, school.id, issued or period.start, previous
            )
        )
    return paths, carried
