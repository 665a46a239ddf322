"""Runs staff ask for (a municipality's consolidation, a region's summary), handed to Dagster the way returns and
decisions are: as small files in the workspace's `requests/` folder. Dagster's `staff_requests` sensor turns each
into a run of the same assets every other run uses, queued by Dagster with the rest; the run carries the
request's id (`REQUEST_TAG`), by which the asker follows it. Nothing here runs anything.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from pipeline.config import Workspace
from pipeline.files import atomic_write

FOLDER = "requests"
REQUEST_TAG = "svod/request"
KEPT = 500  # requests the folder keeps (the oldest go): a sensor looks only at those it has not seen


class RunAsked(BaseModel):
    id: str
    kind: Literal["consolidate", "regional"]
    municipality: str = ""
    period: str = ""
    region: str = ""
    asked_by: str = ""
    asked_at: datetime


def ask(ws: Workspace, asked: RunAsked) -> Path:
    """Hand a request to Dagster (its sensor picks it up within seconds)."""
    folder = ws.home / FOLDER
    path = atomic_write(folder / f"{asked.asked_at:%Y%m%dT%H%M%S%f}-{asked.id}.json", asked.model_dump_json())
    for old in sorted(folder.glob("*.json"))[:-KEPT]:
        old.unlink(missing_ok=True)
    return path


def waiting(ws: Workspace, seen: set[str]) -> list[RunAsked]:
    """Requests not among `seen` (ids), oldest first."""
    asked = [RunAsked.model_validate_json(p.read_bytes()) for p in sorted((ws.home / FOLDER).glob("*.json"))]
    return [a for a in asked if a.id not in seen]
