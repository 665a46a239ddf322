"""`/health/`: whether the server's services are up, for a load balancer and a monitoring system, without a
login and without failing when a part is away. JSON with each part's state; 200 when the cabinet can serve and
its background services are alive, else 503.

- database: the cabinet's store answers a query;
- daemon: the age of the Dagster daemon's newest heartbeat (it beats every few seconds);
- worker: the age of the cabinet worker's last look at the warehouse (`worker.BEAT_FILE`);
- mail: how many notices wait in the mail queue and how long the oldest has waited.
"""

from __future__ import annotations

import time

from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from cabinet import runs, worker

DAEMON_STALE_SECONDS = 120  # the daemon beats every ~20 s: two minutes without a beat means it is down
WORKER_STALE_SECONDS = 120  # the worker looks every 10 s


def database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def daemon_age() -> float | None:
    """Seconds since the daemon's newest heartbeat (None: none recorded, or its storage is away)."""
    try:
        beats = runs.dagster().get_daemon_heartbeats()
    except Exception:  # noqa: BLE001 — storage away: reported as no heartbeat
        return None
    return round(time.time() - max(b.timestamp for b in beats.values()), 1) if beats else None


def worker_age() -> float | None:
    beat = worker.beat_file()
    return round(time.time() - beat.stat().st_mtime, 1) if beat.exists() else None


def mail_queue() -> dict:
    from django_tasks_db.models import DBTaskResult

    try:
        ready = DBTaskResult.objects.ready()
        oldest = ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
        return {
            "waiting": ready.count(),
            "oldest_seconds": round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0,
        }
    except DatabaseError:
        return {"waiting": None, "oldest_seconds": None}


@require_safe
def health(request):
    state = {
        "database": database(),
        "daemon_heartbeat_seconds": daemon_age(),
        "worker_seconds": worker_age(),
        "mail": mail_queue(),
    }
    alive = lambda age, limit: age is not None and age < limit  # noqa: E731
    state["ok"] = (
        state["database"]
        and alive(state["daemon_heartbeat_seconds"], DAEMON_STALE_SECONDS)
        and alive(state["worker_seconds"], WORKER_STALE_SECONDS)
    )
    return JsonResponse(state, status=200 if state["ok"] else 503)
