"""The cabinet's worker: keeps the cabinet's copy of what the warehouse recorded current, whoever ran the
pipeline (`Follower`: each ОО's latest verdict, the verdicts recorded for uploads, the versions that came by
e-mail or the inbox, the receipts to send), so pages never read the warehouse while a run writes it; every few
minutes it records the reminders, overdue notices and digests that fell due (`cabinet.notices`; the mail queue
sends them). It runs nothing: the cabinet asks Dagster for runs (`cabinet.runs`).

`svod serve` starts it beside the web server; one worker runs per workspace (a lock file). Everything it does is
safe to repeat after it was killed; with a database away it says so in one log line and looks again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

import duckdb
import pandas as pd
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from cabinet import notices, versions
from cabinet.errors import database_away
from cabinet.models import RecordedState, Upload
from pipeline.config import Workspace
from pipeline.domain.vocabulary import CHECKED_VERDICTS
from pipeline.store import queries
from pipeline.store.warehouse import WarehouseBusy

POLL_SECONDS = 1.0
SYNC_BATCH = 100  # recorded states written per transaction
FOLLOW_SECONDS = 10.0  # how often the worker looks whether a run it did not start changed the warehouse
PLAN_SECONDS = 600  # how often the worker looks for reminders, overdue notices and digests that fell due
AWAY_PAUSE_SECONDS = 5  # with a database away: one log line, then a look again this much later
log = logging.getLogger(__name__)


def workspace() -> Workspace:
    return settings.WORKSPACE


@contextmanager
def only_worker(ws: Workspace):
    """Hold the workspace's worker lock; yields False when another worker has it."""
    path = ws.home / "cabinet" / "worker.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def run_forever(poll: float = POLL_SECONDS) -> None:
    ws = workspace()
    with only_worker(ws) as mine:
        if not mine:
            log.warning("another cabinet worker runs for %s", ws.home)
            return
        follower = Follower(ws)
        follower.follow()
        last_planned, last_followed, parent = None, time.monotonic(), os.getppid()
        while os.getppid() == parent:  # started by `svod serve`: ends with it
            try:
                if last_planned is None or time.monotonic() - last_planned > PLAN_SECONDS:
                    notices.recover()
                    plan_notices()
                    last_planned = time.monotonic()
                if time.monotonic() - last_followed > FOLLOW_SECONDS:
                    follower.follow()
                    beat_file(ws).touch()
                    last_followed = time.monotonic()
            except Exception as exc:
                if not database_away(exc):
                    raise
                log.warning(
                    "a database is away; the worker looks again in %s s", AWAY_PAUSE_SECONDS, exc_info=exc
                )
                close_old_connections()
                time.sleep(AWAY_PAUSE_SECONDS)
            time.sleep(poll)


def beat_file(ws: Workspace | None = None):
    """Touched at each look at the warehouse: its age says whether the worker is alive (`cabinet.health`)."""
    return (ws or workspace()).home / "cabinet" / "worker.beat"


def plan_notices(today=None) -> int:
    """Record the reminders, overdue notices and digests due today (each once: keys); returns how many are new."""
    return sum(bool(draft.record()) for draft in notices.due(today or timezone.localdate()))


def sync(municipality: str, period: str, receipts_since: datetime | None = None) -> int:
    """Copy the warehouse's record of a partition into the cabinet's state: each ОО's latest verdict, the verdicts
    recorded for uploads, the versions that came another way (e-mail, the inbox), and the receipts of answers
    written since `receipts_since` (default: the receipt window) to send. Writes only what changed, so a
    thousand-ОО partition that changed by one school costs the cabinet's store one row. Returns how many ОО
    stand accepted."""
    ws = workspace()
    if not ws.database.exists():
        return 0
    uploads = list(Upload.objects.filter(municipality=municipality, period=period))
    schools = [s.id for s in ws.reference.municipalities[municipality].schools]
    with ws.connect(read_only=True) as con:
        states = queries.school_states(con, municipality, period)
        recorded = queries.verdicts_of(con, [u.sha256 for u in uploads])
        answers = queries.answers_of(con, period, schools)
    since = max(receipts_since or notices.receipts_since(), notices.receipts_since())
    notices.warehouse_receipts([payload for payload, written in answers if written and written >= since])
    kept = {r.school_id: r for r in RecordedState.objects.filter(municipality=municipality, period=period)}
    fresh, accepted = [], 0
    for s in states[states["verdict"].notna()].itertuples():
        accepted += bool(s.has_accepted)
        now = {
            "sha256": s.sha256,
            "verdict": s.verdict,
            "received_at": timezone.make_aware(s.received_at.to_pydatetime()),
            "errors": count(s.errors),
            "warnings": count(s.warnings),
            "reason": s.reason if isinstance(s.reason, str) else "",
        }
        state = kept.get(s.school_id)
        if state is None or any(getattr(state, k) != v for k, v in now.items()):
            fresh.append((s.school_id, now))
    versions.add_missing(ws, municipality, [payload for payload, _ in answers], {u.sha256 for u in uploads})
    for start in range(0, len(fresh), SYNC_BATCH):  # short transactions: the web processes write between them
        with transaction.atomic():
            for school_id, now in fresh[start : start + SYNC_BATCH]:
                RecordedState.objects.update_or_create(
                    school_id=school_id, period=period, defaults={"municipality": municipality, **now}
                )
    for u in uploads:
        verdict = recorded.get(u.sha256)
        if verdict in CHECKED_VERDICTS and verdict != u.recorded_verdict:
            u.recorded_verdict = verdict
            u.save(update_fields=["recorded_verdict"])
    return accepted


def count(value) -> int:
    """A warehouse count, none yet for a return still waiting to be checked."""
    return 0 if pd.isna(value) else int(value)


def sync_all() -> None:
    """Copy the warehouse's record of every partition."""
    for m in settings.WORKSPACE.reference.municipalities.values():
        for p in m.periods:
            sync(m.code, p.code)


class Follower:
    """Keeps the cabinet's copy current whoever ran the pipeline (the inbox sensor, a schedule, `svod run`, the
    Dagster UI): when the warehouse files changed since it last looked, it reads each partition's stamp (one
    attempt: a run writing now is looked at next time) and copies the partitions whose stamp changed."""

    def __init__(self, ws: Workspace):
        self.ws, self.files, self.stamps, self.looked_at = ws, None, {}, None

    def follow(self) -> list[tuple[str, str]]:
        files = [(p.stat().st_mtime_ns, p.stat().st_size) for p in self._files()]
        if files == self.files:
            return []
        try:
            with self.ws.connect(read_only=True, wait=0) as con:
                stamps = queries.partition_stamps(con)
        except (WarehouseBusy, duckdb.Error):  # being written, or not made yet: next time
            return []
        known = self.ws.reference.municipalities  # not the summaries other municipalities sent up
        changed = [key for key, stamp in stamps.items() if key[0] in known and self.stamps.get(key) != stamp]
        looking = datetime.now()
        since = self.looked_at - timedelta(minutes=1) if self.looked_at else None  # a minute's overlap
        for municipality, period in changed:
            sync(municipality, period, since)
        self.files, self.stamps, self.looked_at = files, stamps, looking
        return changed

    def _files(self) -> list:
        database = self.ws.database
        return [p for p in (database, database.with_name(database.name + ".wal")) if p.exists()]
