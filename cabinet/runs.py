"""The runs the cabinet asks Dagster for (a municipality's consolidation, a region's summary) and how they stand.
A `Job` records who asked for what; Dagster queues and runs it (`pipeline.intake.run_requests`, the
`staff_requests` sensor) and its state and progress are read back from Dagster's run records."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import dagster as dg
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from cabinet.models import Job, JobState
from pipeline import in_process
from pipeline.intake import run_requests


def dagster() -> dg.DagsterInstance:
    """The workspace's Dagster instance, opened once per process (a web process's threads wait for the first)."""
    with _opening:
        return _opened(settings.WORKSPACE.home)


@functools.cache
def _opened(home: Path) -> dg.DagsterInstance:
    return in_process.instance(settings.WORKSPACE)


_opening = threading.Lock()
PROGRESS_SECONDS = 2


def ask(user, **scope) -> tuple[Job, bool]:
    """The run of this kind and scope still waiting or running, else a new one asked of Dagster; and whether it
    is new."""
    for job in Job.objects.filter(**scope, state__in=[JobState.QUEUED, JobState.RUNNING]):
        if not refresh(job, fresh=True).finished:
            return job, False
    job = Job.objects.create(**scope, requested_by=user)
    run_requests.ask(
        settings.WORKSPACE,
        run_requests.RunAsked(
            id=str(job.pk),
            kind=job.kind,
            municipality=job.municipality,
            period=job.period,
            region=job.region,
            asked_by=user.get_username() if user else "",
            asked_at=timezone.localtime(job.requested_at).replace(tzinfo=None),
        ),
    )
    return job, True


def refresh(job: Job, fresh: bool = False) -> Job:
    """The job with its state and progress as Dagster records them (saved when they changed). Pages poll every
    2 s: unless `fresh`, Dagster's records are read at most once in that time per process."""
    if job.finished:
        return job
    read = functools.partial(in_process.progress, dagster(), str(job.pk))
    now = read() if fresh else cache.get_or_set(f"run-progress:{job.pk}", read, PROGRESS_SECONDS)
    if (now.state, now.text) != (job.state, job.progress):
        job.state, job.progress = now.state, now.text[:300]
        job.finished_at = now.finished_at
        job.save(update_fields=["state", "progress", "finished_at"])
    return job
