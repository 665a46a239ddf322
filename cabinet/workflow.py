"""Where a school's return for a period stands, in words: from its versions (handed in through the cabinet, or
recorded by consolidation for files sent otherwise) and the methodist's decisions. The board is these states
for every ОО of the registry; "what changed" compares a version with the one before.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache

from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone

from cabinet.access import period_slug
from cabinet.models import Decision, DecisionKind, Justification, RecordedState, Upload
from pipeline.domain.vocabulary import Status, Verdict
from pipeline.reference import Municipality, Period, School


@dataclass
class Version:
    """One version of a return: a cabinet upload, or a file the warehouse recorded (sent by e-mail)."""

    received_at: datetime
    verdict: Verdict
    errors: int
    warnings: int
    upload: Upload | None = None
    reason: str = ""
    sha256: str | None = None


@dataclass
class ReturnState:
    school: School
    period: Period
    deadline: date
    latest: Version | None
    status: Status
    reason: str = ""  # why it was returned or not accepted
    justified: int = 0  # warnings of the latest version the school has justified
    decisions: list[Decision] = field(default_factory=list)
    last_notice: object = None  # the latest notice to the ОО about this period (the board shows it)

    @property
    def slug(self) -> str:
        return period_slug(self.period.code)

    @property
    def page_url(self) -> str:
        """The return's page (a board has a thousand of them: reversed once per return)."""
        return return_url(self.school.id, self.slug)

    @property
    def status_ru(self) -> str:
        return self.status.ru

    @property
    def return_undoable(self) -> bool:
        """Returned for correction though the version had no errors: accepting it cancels the return."""
        acceptable = (Verdict.ACCEPTED, Verdict.ACCEPTED_WITH_WARNINGS)
        return (
            self.status == Status.RETURNED and self.latest is not None and self.latest.verdict in acceptable
        )

    @property
    def done(self) -> bool:
        """Accepted or approved: counted in the summary, nothing more is due."""
        return self.status.done

    @property
    def extended(self) -> bool:
        return self.deadline != self.period.deadline

    @cached_property  # a board's states are kept for the day at most (`board_stamp`)
    def late(self) -> bool:
        """Handed in after the deadline, or not yet handed in with the deadline past."""
        when = timezone.localtime(self.latest.received_at).date() if self.latest else timezone.localdate()
        return when > self.deadline

    @property
    def days_left(self) -> int:
        return (self.deadline - timezone.localdate()).days


@lru_cache(maxsize=100_000)
def return_url(school_id: str, slug: str) -> str:
    return reverse("return", args=[school_id, slug])


def deadline_of(period: Period, decisions: list[Decision]) -> date:
    """The period's deadline, or the latest new one given to this ОО: an extension, or a return's."""
    extensions = [
        d.deadline for d in decisions if d.kind in (DecisionKind.EXTEND, DecisionKind.RETURN) and d.deadline
    ]
    return extensions[-1] if extensions else period.deadline


def state_of(
    school: School,
    period: Period,
    uploads: list[Upload],
    recorded: RecordedState | None,
    decisions: list[Decision],
) -> ReturnState:
    """Where one return stands. `uploads` newest first; `decisions` in the order made."""
    latest = None
    if uploads:
        u = uploads[0]
        latest = Version(u.uploaded_at, u.shown_verdict, u.errors, u.warnings, upload=u, sha256=u.sha256)
    if recorded and (latest is None or recorded.received_at > latest.received_at):
        same = next((u for u in uploads if u.sha256 == recorded.sha256), None)
        latest = Version(
            recorded.received_at,
            Verdict(recorded.verdict),
            recorded.errors,
            recorded.warnings,
            upload=same,
            reason=recorded.reason,
            sha256=recorded.sha256,
        )
    state = ReturnState(
        school, period, deadline_of(period, decisions), latest, Status.NOT_SENT, decisions=decisions
    )
    if latest is None:
        return state
    if latest.upload is not None:
        state.justified = latest.upload.justifications.count()
        latest.reason = latest.upload.reason or latest.reason
    approvals = [d for d in decisions if d.kind in (DecisionKind.APPROVE, DecisionKind.UNAPPROVE)]
    reviews = [
        d
        for d in decisions
        if d.kind in (DecisionKind.ACCEPT, DecisionKind.RETURN) and d.made_at >= latest.received_at
    ]
    if approvals and approvals[-1].kind == DecisionKind.APPROVE:
        state.status = Status.APPROVED
    elif reviews and reviews[-1].kind == DecisionKind.RETURN:
        state.status, state.reason = Status.RETURNED, reviews[-1].reason
    elif reviews and latest.verdict in (Verdict.ACCEPTED, Verdict.ACCEPTED_WITH_WARNINGS):
        state.status = Status.ACCEPTED
    elif latest.verdict in (Verdict.PENDING, Verdict.HELD):
        state.status = Status.PENDING
    else:
        state.status = Status(latest.verdict.value)
        state.reason = latest.reason if latest.verdict is Verdict.REJECTED else ""
    return state


def school_state(m: Municipality, school: School, period: Period) -> ReturnState:
    return school_states(school, [period])[0]


def school_states(school: School, periods: list[Period]) -> list[ReturnState]:
    """Where the school's return for each period stands: three queries for all the periods."""
    codes = [p.code for p in periods]
    uploads: dict[str, list[Upload]] = {}
    for u in Upload.objects.filter(school_id=school.id, period__in=codes).prefetch_related("justifications"):
        uploads.setdefault(u.period, []).append(u)
    recorded = {r.period: r for r in RecordedState.objects.filter(school_id=school.id, period__in=codes)}
    decisions: dict[str, list[Decision]] = {}
    for d in Decision.objects.filter(school_id=school.id, period__in=codes):
        decisions.setdefault(d.period, []).append(d)
    return [
        state_of(school, p, uploads.get(p.code, []), recorded.get(p.code), decisions.get(p.code, []))
        for p in periods
    ]


_boards: dict[tuple[str, str], tuple[tuple, list[ReturnState]]] = {}
_computing: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)


def board(m: Municipality, period: Period) -> list[ReturnState]:
    """Every ОО of the municipality's registry with where its return stands. Kept in memory under what it
    depends on (`board_stamp`); when that changes, only the ОО changed since are computed again (the whole board
    on a new day), by one request at a time: while one computes, others are served the board as it was a moment
    before, so a burst of uploads and twenty methodists opening the board cost little."""
    key, stamp = (m.code, period.code), board_stamp(m, period)
    kept = _boards.get(key)
    if kept and kept[0] == stamp:
        return kept[1]
    computing = _computing[key]
    if kept and not computing.acquire(blocking=False):
        return kept[1]
    if not kept:
        computing.acquire()
    try:
        changed = changed_since(m, period, kept[0], stamp) if kept and kept[0][0] == stamp[0] else None
        if changed is None:
            states = _board(m, period)
        else:
            fresh = {s.school.id: s for s in _board(m, period, changed)}
            states = [fresh.get(s.school.id, s) for s in kept[1]]
        _boards[key] = (stamp, states)
    finally:
        computing.release()
    return states


def _sources(m: Municipality, period: Period) -> list[tuple]:
    """What a board is computed from: (rows, when a row was made or synced, its school) for uploads, decisions,
    justifications and recorded states."""
    uploads = Upload.objects.filter(municipality=m.code, period=period.code)
    return [
        (uploads, "uploaded_at", "school_id"),
        (
            Decision.objects.filter(school_id__in=[s.id for s in m.schools], period=period.code),
            "made_at",
            "school_id",
        ),
        (Justification.objects.filter(upload__in=uploads), "written_at", "upload__school_id"),
        (RecordedState.objects.filter(municipality=m.code, period=period.code), "synced_at", "school_id"),
    ]


def board_stamp(m: Municipality, period: Period) -> tuple:
    """The day (lateness), and for each source of the board how many rows it has and when the newest was made, in
    four small queries (the worker's sync touches every recorded state it copies, with the verdicts it copies to
    uploads)."""
    return (
        timezone.localdate(),
        *(
            tuple(rows.aggregate(n=Count("id"), at=Max(made)).values())
            for rows, made, _ in _sources(m, period)
        ),
    )


def _newer(field: str, at) -> dict:
    """A filter for rows made after `at`; every row when there were none (`at` is None)."""
    return {} if at is None else {f"{field}__gt": at}


def changed_since(m: Municipality, period: Period, kept: tuple, now: tuple) -> set[str] | None:
    """The ОО with an upload, decision, justification or recorded state newer than those of the `kept` stamp;
    None when the rows do not add up to the `now` stamp (something was deleted): then everything is computed."""
    changed = set()
    for (rows, made, school), (n, at), (n_now, _) in zip(_sources(m, period), kept[1:], now[1:], strict=True):
        newer = list(rows.filter(**_newer(made, at)).values_list(school, flat=True))
        appended_only = n_now == n + len(newer) if made != "synced_at" else n <= n_now <= n + len(newer)
        if not appended_only:  # recorded states are updated in place; the others are only ever added
            return None
        changed.update(newer)
    return changed


def _board(m: Municipality, period: Period, only: set[str] | None = None) -> list[ReturnState]:
    """The board computed, for every ОО or `only` these: four queries."""
    schools = [s for s in m.schools if only is None or s.id in only]
    ids = {"school_id__in": [s.id for s in schools]}
    uploads: dict[str, list[Upload]] = {}
    kept = Upload.objects.filter(municipality=m.code, period=period.code, **ids).defer("issues", "rows")
    for u in kept.prefetch_related("justifications"):  # a thousand versions' problems are not the board's
        uploads.setdefault(u.school_id, []).append(u)
    recorded = {
        r.school_id: r for r in RecordedState.objects.filter(municipality=m.code, period=period.code, **ids)
    }
    decisions: dict[str, list[Decision]] = {}
    for d in Decision.objects.filter(period=period.code, **ids):
        decisions.setdefault(d.school_id, []).append(d)
    return [
        state_of(s, period, uploads.get(s.id, []), recorded.get(s.id), decisions.get(s.id, []))
        for s in schools
    ]


def totals(states: list[ReturnState]) -> dict:
    """Counts by status, late ones, and the share of ОО whose return is accepted (for the progress bar)."""
    by = Counter(s.status for s in states)
    done = sum(by[k] for k in Status if k.done)
    return {
        "by_status": [(k.ru, by[k], k.value) for k in Status],
        "total": len(states),
        "done": done,
        "late": sum(s.late for s in states if s.status != Status.APPROVED),
        "percent": round(100 * done / len(states)) if states else 0,
    }


def problems_first(states: list[ReturnState]) -> list[ReturnState]:
    return sorted(states, key=lambda s: (s.status.rank, not s.late, -(s.latest.errors if s.latest else 0)))


def current_period(m: Municipality) -> Period:
    """The period staff most likely work on: the newest begun period with returns, else the newest begun one."""
    today = timezone.localdate()
    begun = (
        sorted((p for p in m.periods if p.start <= today), key=lambda p: p.start, reverse=True) or m.periods
    )
    with_returns = set(
        RecordedState.objects.filter(municipality=m.code).values_list("period", flat=True).distinct()
    )
    with_returns |= set(
        Upload.objects.filter(municipality=m.code).values_list("period", flat=True).distinct()
    )
    return next((p for p in begun if p.code in with_returns), begun[0])
