"""Staff decisions as warehouse writes. A methodist's approval locks a school's accepted return for the period:
later versions wait ('held') until the approval is removed. A return for correction marks the accepted version
returned: the school's return is not counted until a newer version is accepted. Callers hold the transaction
(`pipeline.intake.decisions`), except for `hold`, which records the school's notice with the verdict; each
applied decision is recorded once (`record`)."""

from __future__ import annotations

from datetime import datetime

from pipeline.domain.vocabulary import Verdict
from pipeline.store.loads import record_answers
from pipeline.store.warehouse import transaction


def hold(con, sha256: str, answer) -> None:
    """A new version of an approved return waits for staff to unlock it; the school's notice (`answer`) is due with
    it."""
    with transaction(con):
        con.execute("UPDATE submission SET verdict = ? WHERE sha256 = ?", [Verdict.HELD.value, sha256])
        record_answers(con, [answer])


def approve(con, school_id: str, period: str, sha256: str | None = None) -> str | None:
    """Lock the school's current accepted return for the period (if `sha256`, only when it is that version);
    returns its sha256, or None if there is none."""
    row = _current(con, school_id, period, sha256)
    if row:
        con.execute(
            "INSERT OR REPLACE INTO approval VALUES (?, ?, ?, current_timestamp)", [school_id, period, row[0]]
        )
    return row[0] if row else None


def unlock(con, school_id: str, period: str) -> int:
    """Remove the approval; held versions go back to pending. Returns how many were released."""
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


def return_for_correction(
    con, school_id: str, period: str, reason: str, at: datetime, sha256: str | None = None
) -> str | None:
    """Mark the school's current accepted return for the period returned (if `sha256`, only when it is that
    version: a newer one the methodist has not seen stays counted); its sha256, or None if there is none."""
    row = _current(con, school_id, period, sha256)
    if row:
        con.execute(
            "INSERT OR REPLACE INTO returned VALUES (?, ?, ?, ?, ?)", [school_id, period, row[0], reason, at]
        )
    return row[0] if row else None


def undo_return(con, school_id: str, period: str) -> int:
    """Clear the school's return marks for the period (the methodist accepted it after all); how many."""
    undone = con.execute(
        "DELETE FROM returned WHERE school_id = ? AND period = ? RETURNING sha256", [school_id, period]
    ).fetchall()
    return len(undone)


def _current(con, school_id: str, period: str, sha256: str | None) -> tuple | None:
    return con.execute(
        "SELECT sha256 FROM current_submission WHERE school_id = ? AND period = ? AND coalesce(? = sha256, true)",
        [school_id, period, sha256],
    ).fetchone()


def record(
    con, name: str, kind: str, school_id: str, period: str, reason: str, by: str, at, outcome: str
) -> None:
    """An applied staff decision, under the name of its file (applied once: `queries.decision_applied`)."""
    con.execute(
        "INSERT INTO staff_decision VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?)",
        [name, kind, school_id, period, reason, by, at, outcome],
    )
