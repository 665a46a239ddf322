"""A methodist's approval locks a school's accepted return for the period: later versions wait ('held') until
the approval is removed. Warehouse writes, with the school's notice recorded as due; nothing else."""

from __future__ import annotations

from pipeline.domain.vocabulary import Verdict
from pipeline.feedback import HELD, Answer
from pipeline.store.loads import record_answers
from pipeline.store.warehouse import transaction


def hold(con, rec, period: str) -> Answer:
    """A new version of an approved return waits for staff to unlock it; the school's notice is due with it."""
    answer = Answer(
        kind=HELD,
        sha256=rec.sha256,
        original_name=rec.original_name,
        received_at=rec.received,
        verdict=Verdict.HELD,
        school_id=rec.school_id,
        period=period,
    )
    with transaction(con):
        con.execute("UPDATE submission SET verdict = ? WHERE sha256 = ?", [Verdict.HELD.value, rec.sha256])
        record_answers(con, [answer])
    return answer


def approve(con, school_id: str, period: str) -> str | None:
    """Lock the school's current accepted return for the period; returns its sha256, or None if there is none."""
    row = con.execute(
        "SELECT sha256 FROM current_submission WHERE school_id = ? AND period = ?", [school_id, period]
    ).fetchone()
    if row:
        con.execute(
            "INSERT OR REPLACE INTO approval VALUES (?, ?, ?, current_timestamp)", [school_id, period, row[0]]
        )
    return row[0] if row else None


def unlock(con, school_id: str, period: str) -> int:
    """Remove the approval; held versions go back to pending. Returns how many were released."""
    with transaction(con):
        con.execute("DELETE FROM approval WHERE school_id = ? AND period = ?", [school_id, period])
        released = con.execute(
            "SELECT count(*) FROM submission WHERE school_id = ? AND period = ? AND verdict = ?",
            [school_id, period, Verdict.HELD.value],
        ).fetchone()[0]
        con.execute(
            "UPDATE submission SET verdict = ? WHERE school_id = ? AND period = ? AND verdict = ?",
            [Verdict.PENDING.value, school_id, period, Verdict.HELD.value],
        )
    return released
