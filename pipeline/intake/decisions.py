"""Staff decisions on a school's return, handed to the pipeline the way returns are: as small files. The cabinet
and the CLI write one (`request`) into the workspace's `decisions/` folder; the next run of the partition applies
them to the warehouse in the order made (`apply_pending`), and keeps each file in the archive. So every write to
the warehouse is a Dagster run, whoever decided.

What a decision does there: a return for correction marks the school's accepted version returned (it is not
counted until a newer version is accepted); the methodist's acceptance clears that mark; an approval locks the
accepted version, and removing it releases the versions held meanwhile.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from pipeline.config import Workspace
from pipeline.domain.vocabulary import Decision
from pipeline.files import atomic_write
from pipeline.store import approvals, queries
from pipeline.store.warehouse import transaction

FOLDER = "decisions"
APPLIED = "applied"  # the archive's folder of applied decision files
WAREHOUSE_DECISIONS = (Decision.ACCEPT, Decision.RETURN, Decision.APPROVE, Decision.UNAPPROVE)


class StaffDecision(BaseModel):
    kind: Decision
    school_id: str
    municipality: str
    period: str
    made_at: datetime
    made_by: str = ""
    reason: str = ""
    sha256: str | None = None  # the version decided on, as the decider saw it (None: the current one)


def request(ws: Workspace, decision: StaffDecision) -> Path | None:
    """Hand a decision to the pipeline (None: the warehouse does not need this kind)."""
    if decision.kind not in WAREHOUSE_DECISIONS:
        return None
    name = f"{decision.made_at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
    return atomic_write(ws.home / FOLDER / name, decision.model_dump_json(), sync=True)


def pending(ws: Workspace, municipality: str, period: str) -> list[tuple[Path, StaffDecision]]:
    """This partition's decisions not yet applied, in the order made."""
    found = [
        (p, StaffDecision.model_validate_json(p.read_bytes()))
        for p in sorted((ws.home / FOLDER).glob("*.json"))
    ]
    return [(p, d) for p, d in found if (d.municipality, d.period) == (municipality, period)]


def apply_pending(ws: Workspace, con, municipality: str, period: str) -> list[tuple[StaffDecision, str]]:
    """Apply the partition's pending decisions, each once (its effect and its record in one transaction), and
    keep their files in the archive; returns each with what it did, in words. Held versions an unlock released
    are pending again: the caller checks them."""
    done = []
    for path, d in pending(ws, municipality, period):
        if not queries.decision_applied(con, path.name):
            with transaction(con):
                outcome = apply(con, d)
                record(con, path.name, d, outcome)
            done.append((d, outcome))
        kept = ws.archive / FOLDER / APPLIED / path.name
        kept.parent.mkdir(parents=True, exist_ok=True)
        path.replace(kept)
    return done


def replay(ws: Workspace, con) -> int:
    """Apply every archived decision again, in the order made (a rebuild of the warehouse); how many."""
    applied = sorted((ws.archive / FOLDER / APPLIED).glob("*.json"))
    for path in applied:
        d = StaffDecision.model_validate_json(path.read_bytes())
        with transaction(con):
            record(con, path.name, d, apply(con, d))
    return len(applied)


def record(con, name: str, d: StaffDecision, outcome: str) -> None:
    approvals.record(con, name, d.kind.value, d.school_id, d.period, d.reason, d.made_by, d.made_at, outcome)


def apply(con, d: StaffDecision) -> str:
    if d.kind == Decision.RETURN:
        sha = approvals.return_for_correction(con, d.school_id, d.period, d.reason, d.made_at, d.sha256)
        return f"возвращён файл {sha[:12]}" if sha else "нет такого принятого отчёта: возвращать нечего"
    if d.kind == Decision.ACCEPT:
        undone = approvals.undo_return(con, d.school_id, d.period)
        return "возврат отменён" if undone else "возврата не было"
    if d.kind == Decision.APPROVE:
        sha = approvals.approve(con, d.school_id, d.period, d.sha256)
        return f"утверждён файл {sha[:12]}" if sha else "нет такого принятого отчёта: утверждать нечего"
    released = approvals.unlock(con, d.school_id, d.period)
    return f"утверждение снято; отложенных версий: {released}"
