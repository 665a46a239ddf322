"""How much one address or one account may do, and who the address is: the client's address (behind the
configured reverse proxies, the one the outermost proxy saw), failed logins from one address across usernames
(axes counts them per username and address), uploads per account per hour, and the files an ОО may keep.
Each limit answers in Russian why the request was refused.
"""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from cabinet.models import Upload


def client_address(request) -> str | None:
    """REMOTE_ADDR, or behind PROXIES reverse proxies the PROXIES-th address of X-Forwarded-For from the right
    (each proxy appends what it saw; entries further left are the client's to write)."""
    hops = settings.PROXIES
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")


def address_spraying(request) -> bool:
    """Whether this address failed to log in ADDRESS_FAILURE_LIMIT times within the pause, whatever usernames it
    tried: one address trying a common password against every ОО is slowed like one guessing one password."""
    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    failures = AccessAttempt.objects.filter(
        ip_address=client_address(request), attempt_time__gte=since
    ).aggregate(n=Sum("failures_since_start"))["n"]
    return (failures or 0) >= settings.ADDRESS_FAILURE_LIMIT


def upload_refusal(user, school_id: str, size: int) -> str | None:
    """Why this upload is over a limit (None: it is not): too many uploads by the account in the last hour, or
    the ОО's files would take more than its storage."""
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = Upload.objects.filter(uploaded_by=user, uploaded_at__gte=hour_ago).order_by("uploaded_at")
    if recent.count() >= settings.UPLOADS_PER_HOUR:
        wait = recent.first().uploaded_at + timedelta(hours=1) - timezone.now()
        return (
            f"За последний час загружено {settings.UPLOADS_PER_HOUR} файлов — больше нельзя. Файл не сохранён: "
            f"загрузите его снова через {max(1, round(wait.total_seconds() / 60))} мин."
        )
    kept = Upload.objects.filter(school_id=school_id).aggregate(n=Sum("size"))["n"] or 0
    if kept + size > settings.SCHOOL_STORAGE_BYTES:
        return (
            f"Файлы вашей ОО заняли всё место в кабинете ({settings.SCHOOL_STORAGE_BYTES // 1024**2} МБ). "
            "Файл не сохранён: обратитесь к методисту муниципалитета."
        )
    return None
