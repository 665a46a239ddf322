"""The cabinet's own state, in its transactional store (SQLite by default, PostgreSQL in production): who may log
in and for which organisation, what each school handed in through the cabinet and the answer it got, staff
decisions, justifications, the append-only audit log and the queue of warehouse work for the worker.

The warehouse stays the pipeline's: nothing here is a copy of a warehouse table. Schools, municipalities and
periods are the reference registry's (`pipeline.reference`); rows here name them by code.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from pipeline.domain.vocabulary import Decision, Severity, Verdict

VERDICTS = [(v.value, v.ru) for v in Verdict]


class Role(models.TextChoices):
    SCHOOL = "school", "Школа"
    METHODIST = "methodist", "Методист"
    REGION = "region", "Регион"
    ADMIN = "admin", "Администратор"


class Account(models.Model):
    """Which organisation a user speaks for: an ОО (school id), a municipality or a region (by code)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account")
    role = models.CharField("роль", max_length=16, choices=Role.choices)
    organisation = models.CharField("организация", max_length=64, blank=True)

    class Meta:
        verbose_name, verbose_name_plural = "учётная запись", "учётные записи"

    def __str__(self) -> str:
        return f"{self.user.username} ({self.get_role_display()} {self.organisation})"


class Channel(models.TextChoices):
    CABINET = "cabinet", "через кабинет"
    INBOX = "inbox", "по почте или через папку"


def first_error(issues: list[dict]) -> str:
    return next((i["message"] for i in issues if i["severity"] == Severity.ERROR), "")


class Upload(models.Model):
    """One version of a school's return: handed in through the cabinet (and answered at once), or one that came
    another way, as the warehouse recorded it (`cabinet.versions`). Its bytes are in the archive (by sha256); its
    receipt and annotated copy are under the workspace's `cabinet/answers/<id>/`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    school_id = models.CharField(max_length=32, db_index=True)
    municipality = models.CharField(max_length=64)
    period = models.CharField(max_length=16)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    uploaded_at = models.DateTimeField()
    client_name = models.CharField(max_length=200)  # shown to people only; never a file name
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    verdict = models.CharField(max_length=32, choices=VERDICTS)
    errors = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    issues = models.JSONField(default=list)  # the problems as shown, each an Issue's fields
    rows = models.JSONField(default=dict)  # sheet title -> rows filled
    history_checked = models.BooleanField(default=True)  # compared with the previous period's accepted return
    forwarded = models.BooleanField(default=False)  # handed to the pipeline (the inbox) for consolidation
    recorded_verdict = models.CharField(
        max_length=32, choices=VERDICTS, blank=True
    )  # what consolidation recorded
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.CABINET)
    reason = models.TextField(
        blank=True
    )  # the first error's message: why it is not accepted (the board shows it)

    class Meta:
        ordering = ["-uploaded_at"]
        indexes = [models.Index(fields=["school_id", "period", "uploaded_at"])]

    def save(self, *args, **kwargs):
        self.reason = first_error(self.issues)
        super().save(*args, **kwargs)

    @property
    def shown_verdict(self) -> Verdict:
        """The verdict that stands: consolidation's once recorded, else the one shown at upload."""
        return Verdict(self.recorded_verdict or self.verdict)


DecisionKind = models.TextChoices(
    "DecisionKind", [(d.name, (d.value, d.ru)) for d in Decision]
)  # the domain's decisions, as Django choices


RETURNING = (DecisionKind.RETURN,)  # decisions that send work back need a reason


class Decision(models.Model):
    """A methodist's decision on a school's return for a period."""

    school_id = models.CharField(max_length=32, db_index=True)
    period = models.CharField(max_length=16)
    upload = models.ForeignKey(Upload, null=True, on_delete=models.PROTECT, related_name="decisions")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    reason = models.TextField(blank=True)
    deadline = models.DateField(null=True, blank=True)  # the extended deadline (EXTEND)
    made_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    made_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["made_at", "id"]


class Justification(models.Model):
    """A school's word on one warning («подтверждаю: в этом году 15 наставляемых»), seen by the methodist."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="justifications")
    issue_key = models.CharField(max_length=200)
    text = models.TextField()
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "issue_key"], name="one_justification_per_warning")
        ]


class AppendOnly(Exception):
    """The audit log is never changed or deleted."""


class AuditEvent(models.Model):
    """Who did what, when, to which school or municipality, and why. Rows are only ever added."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices)
    action = models.CharField(max_length=200)
    municipality = models.CharField(max_length=64, blank=True, db_index=True)
    school_id = models.CharField(max_length=32, blank=True)
    period = models.CharField(max_length=16, blank=True)
    reason = models.TextField(blank=True)
    address = models.CharField("адрес клиента", max_length=45, blank=True)  # behind proxies: SVOD_PROXIES

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name, verbose_name_plural = "запись журнала", "журнал действий"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnly("запись журнала не изменяется")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("запись журнала не удаляется")

    @classmethod
    def record(
        cls,
        account: Account,
        action: str,
        *,
        municipality: str = "",
        school_id: str = "",
        period: str = "",
        reason: str = "",
        address: str | None = "",
    ) -> AuditEvent:
        """An event by `account`, from the client `address` it came from (`cabinet.limits.client_address`)."""
        return cls.objects.create(
            address=address or "",
            actor=account.user.get_username(),
            role=account.role,
            action=action,
            municipality=municipality,
            school_id=school_id,
            period=period,
            reason=reason,
        )


class JobKind(models.TextChoices):
    CONSOLIDATE = "consolidate", "свод муниципалитета"
    REGIONAL = "regional", "свод региона"


class JobState(models.TextChoices):
    QUEUED = "queued", "в очереди"
    RUNNING = "running", "выполняется"
    DONE = "done", "готово"
    FAILED = "failed", "ошибка"


class Job(models.Model):
    """Warehouse work the cabinet asks for and the worker (`cabinet.worker`) does, one at a time, as Dagster runs
    or warehouse transactions; the page shows its progress without waiting for it."""

    kind = models.CharField(max_length=16, choices=JobKind.choices)
    municipality = models.CharField(max_length=64, blank=True)
    region = models.CharField(max_length=64, blank=True)
    period = models.CharField(max_length=16, blank=True)
    school_id = models.CharField(max_length=32, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    requested_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["requested_at", "id"]

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)


class RecordedState(models.Model):
    """A school's latest return for a period as the warehouse recorded it at the last consolidation (files sent
    by e-mail included), refreshed by the worker after each run: the board reads it instead of the warehouse,
    which a run may be writing."""

    school_id = models.CharField(max_length=32)
    municipality = models.CharField(max_length=64, db_index=True)
    period = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64)
    verdict = models.CharField(max_length=32, choices=VERDICTS)
    received_at = models.DateTimeField()
    errors = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school_id", "period"], name="one_state_per_return")]


class SchoolContact(models.Model):
    """A methodist's correction of an ОО's addresses; the registry's stand where there is none."""

    school_id = models.CharField(max_length=32, unique=True)
    email = models.EmailField("эл. почта ОО")
    curator_email = models.EmailField("эл. почта куратора наставничества")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    changed_at = models.DateTimeField(auto_now=True)


class NoticeKind(models.TextChoices):
    RECEIPT = "receipt", "квитанция о приёме"
    RETURNED = "returned", "возврат на доработку"
    REMINDER = "reminder", "напоминание о сроке"
    OVERDUE = "overdue", "срок прошёл"
    DIGEST = "digest", "сводка для методиста"
    INVITATION = "invitation", "приглашение в кабинет"
    ADDRESS = "address", "смена адреса учётной записи"
    PASSWORD = "password", "новый пароль"
    EXTENDED = "extended", "новый срок"
    RETURN_UNDONE = "return_undone", "возврат отменён"


class NoticeState(models.TextChoices):
    QUEUED = "queued", "ждёт отправки"
    SENDING = "sending", "отправляется"
    SENT = "sent", "отправлено"
    UNCONFIRMED = "unconfirmed", "отправка не подтверждена"


class Notice(models.Model):
    """One e-mail, recorded before it is sent (the outbox) under a key that makes it unique: kind, ОО (or
    municipality), period and version. The worker sends it; a failure is retried with backoff; a notice caught
    mid-send by a crash is never sent again automatically (`UNCONFIRMED`), so none goes out twice."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=NoticeKind.choices)
    school_id = models.CharField(max_length=32, blank=True, db_index=True)
    municipality = models.CharField(max_length=64)
    period = models.CharField(max_length=16)
    recipients = models.JSONField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    attachments = models.JSONField(default=list)  # [file name shown, path relative to the workspace]
    state = models.CharField(max_length=16, choices=NoticeState.choices, default=NoticeState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True)
    sending_since = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["created_at", "id"]

    @property
    def state_shown(self) -> str:
        """The state as staff read it: with no mail server configured, a «sent» notice went to a file."""
        if self.state == NoticeState.SENT and not settings.MAIL_CONFIGURED:
            return "записано в файл: почта не настроена"
        return self.get_state_display()
