"""E-mail notices to schools and methodists: composing each in Russian under its idempotency key, recording it
in the outbox (`Notice`) and sending what is queued. Composing never sends and sending never composes; nothing
here runs inside a web request except recording. Recording a notice enqueues its sending in the kept task
queue (django-tasks with its database backend: the cabinet's own database, no broker), which the mail
process (`python -m cabinet mail`, started by `svod serve`) and `svod notify` run.

Kinds: a receipt after each upload or inbox file (the annotated copy attached when a cell is flagged); a return
for correction with the methodist's reason; a reminder `reminder_days` before the deadline to each ОО without an
accepted return (different texts for refused and never sent); an overdue notice after the deadline; a daily
digest to the municipality. Without SMTP settings Django's file backend writes every message to
`<home>/cabinet/mail/`, and the board says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.management import call_command
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from cabinet import engine
from cabinet.access import period_slug
from cabinet.models import Decision, Notice, NoticeKind, NoticeState, SchoolContact, Upload
from cabinet.workflow import board, totals
from pipeline.domain.issues import Issue, by_sheet, counts
from pipeline.domain.vocabulary import Status, Verdict
from pipeline.feedback import ANSWER_FILES, Answer, feedback_path
from pipeline.reference import Municipality, Period, School

OVERDUE_DAYS = 7  # overdue notices and digests go out during the week after the deadline
EXTENSIONS_DAYS = 90  # how long after a period's deadline extended deadlines are still followed
BACKOFF_SECONDS = (60, 300, 900, 3600)  # waits before the 1st, 2nd, 3rd and later retries
SENDING_SECONDS = 600  # a notice sending for longer was caught by a crash
RECEIPT_WINDOW_DAYS = (
    7  # answers the pipeline wrote longer ago are not mailed when the cabinet first sees them
)
LISTED_PROBLEMS = 30  # problems written into a receipt's body; the attachment has them all
VERDICT_WORDS = {
    Verdict.ACCEPTED: "принят",
    Verdict.ACCEPTED_WITH_WARNINGS: "принят с предупреждениями",
    Verdict.REJECTED: "не принят",
    Verdict.HELD: "отложен",
}
log = logging.getLogger(__name__)


@dataclass
class Draft:
    """A notice composed but not yet recorded."""

    key: str
    kind: NoticeKind
    municipality: str
    period: str
    recipients: list[str]
    subject: str
    body: str
    school_id: str = ""
    attachments: list[tuple[str, str]] = field(default_factory=list)

    def record(self) -> Notice | None:
        """Put it in the outbox, and its sending in the mail queue, unless a notice with its key is there
        already; the new notice, or None."""
        with transaction.atomic():
            notice, created = Notice.objects.get_or_create(
                key=self.key,
                defaults={
                    "kind": self.kind,
                    "municipality": self.municipality,
                    "period": self.period,
                    "school_id": self.school_id,
                    "recipients": self.recipients,
                    "subject": self.subject,
                    "body": self.body,
                    "attachments": self.attachments,
                },
            )
            if created:
                send.enqueue(notice.pk)
        return notice if created else None


def school_addresses(school: School) -> list[str]:
    """The ОО's official and curator addresses: a methodist's correction, else the registry's."""
    fixed = SchoolContact.objects.filter(school_id=school.id).first()
    pair = (fixed.email, fixed.curator_email) if fixed else (school.email, school.curator_email)
    return list(dict.fromkeys(a for a in pair if a))


def body(template: str, m: Municipality, **context) -> str:
    """A notice's text from its template (`cabinet/templates/cabinet/mail/`), with the municipality's footer."""
    return render_to_string(
        f"cabinet/mail/{template}.txt",
        {"contact": m.contact.text(m.authority), "public_url": settings.PUBLIC_URL, **context},
    ).strip()


def problems_text(issues: list[Issue]) -> str:
    lines, n = [], 0
    for title, found in by_sheet(issues):
        for i in found:
            n += 1
            if n <= LISTED_PROBLEMS:
                where = f"{title}, ячейка {i.cell}" if i.cell else title
                lines.append(f"{n}. {where} — {i.severity.ru}: {i.message} Как исправить: {i.fix}")
    if n > LISTED_PROBLEMS:
        lines.append(f"…и ещё {n - LISTED_PROBLEMS} — все замечания в приложенной квитанции.")
    return "\n".join(lines)


def receipt(answer: Answer, files: dict[str, Path]) -> Draft | None:
    """The receipt for a checked (or held) return; `files` are its receipt and annotated copy, where written."""
    ref = settings.WORKSPACE.reference
    m = ref.school_home(answer.school_id) if answer.school_id else None
    if m is None or answer.period is None:
        return None  # a file that names no ОО of the registry: nobody to write to
    school = m.school(answer.school_id)
    word = VERDICT_WORDS.get(answer.verdict, answer.verdict.ru)
    errors = counts(answer.issues)[0]
    text = body(
        "receipt",
        m,
        school=school,
        answer=answer,
        word=word,
        held=answer.verdict is Verdict.HELD,
        problems=problems_text(answer.issues),
        errors=errors,
        warnings=len(answer.issues) - errors,
        rejected=answer.verdict is Verdict.REJECTED,
        deadline=m.period(answer.period).deadline,
        annotated="annotated" in files,
    )
    attachments = [
        (
            f"{answer.school_id}_{period_slug(answer.period)}_{name}",
            str(files[kind].relative_to(settings.WORKSPACE.home)),
        )
        for kind, name in (("receipt", "квитанция.xlsx"), ("annotated", "с_пометками.xlsx"))
        if kind in files
    ]
    return Draft(
        f"receipt|{answer.school_id}|{answer.period}|{answer.sha256}",
        NoticeKind.RECEIPT,
        m.code,
        answer.period,
        school_addresses(school),
        f"Отчёт о наставничестве {word}: {school.name}, период {answer.period}",
        text,
        school.id,
        attachments,
    )


def upload_receipt(upload: Upload) -> Draft | None:
    """The receipt for a cabinet upload, with the files the cabinet wrote for it."""
    answer = Answer(
        sha256=upload.sha256,
        original_name=upload.client_name,
        verdict=Verdict(upload.verdict),
        received_at=timezone.localtime(upload.uploaded_at).replace(tzinfo=None),
        issues=[Issue.model_validate(i) for i in upload.issues],
        school_id=upload.school_id,
        period=upload.period,
    )
    files = {kind: path for kind in ("receipt", "annotated") if (path := engine.answer_file(upload.pk, kind))}
    return receipt(answer, files)


def receipts_since() -> datetime:
    """The oldest answer of the pipeline whose receipt is still mailed (naive local time, as the warehouse keeps it)."""
    return datetime.now() - timedelta(days=RECEIPT_WINDOW_DAYS)


def warehouse_receipts(payloads: list[str]) -> int:
    """Record the receipts of answers the pipeline wrote (files sent by e-mail or dropped in the inbox), with the
    files it wrote to the outbox; a cabinet upload's receipt is already there under the same key. Returns how
    many were new."""
    outbox, new = settings.WORKSPACE.outbox, 0
    for payload in payloads:
        answer = Answer.model_validate_json(payload)
        files = {
            kind: path
            for kind in ("receipt", "annotated")
            if (
                path := feedback_path(
                    outbox, answer.school_id, answer.original_name, answer.sha256, ANSWER_FILES[kind]
                )
            ).exists()
        }
        draft = receipt(answer, files)
        new += bool(draft and draft.record())
    return new


def returned(decision: Decision) -> Draft:
    return decision_notice(
        decision,
        NoticeKind.RETURNED,
        "returned",
        "Отчёт возвращён на доработку: {school}, период {period}",
        reason=decision.reason,
        deadline=decision.deadline,
    )


def decision_notice(decision: Decision, kind: NoticeKind, template: str, subject: str, **context) -> Draft:
    """A notice to the ОО a methodist's decision concerns (once per decision): `subject` names the school and
    period as `{school}` and `{period}`."""
    m = settings.WORKSPACE.reference.school_home(decision.school_id)
    school = m.school(decision.school_id)
    return Draft(
        f"{kind.value}|{school.id}|{decision.period}|{decision.pk}",
        kind,
        m.code,
        decision.period,
        school_addresses(school),
        subject.format(school=school.name, period=decision.period),
        body(template, m, school=school, period=decision.period, **context),
        school.id,
    )


def invitation(user, m: Municipality, school: School, again: bool = False) -> Draft:
    """The invitation to an ОО's account, to the account's address: its username and a one-time link to set a
    password (`again`: a new link for an account in use, sent only here)."""
    from cabinet.accounts import invitation_link

    return Draft(
        f"invitation|{user.pk}|{timezone.now().isoformat()}",
        NoticeKind.INVITATION,
        m.code,
        "",
        [user.email],
        f"Приглашение в кабинет svod: {school.name}",
        body(
            "invitation",
            m,
            school=school,
            username=user.get_username(),
            link=invitation_link(user),
            again=again,
        ),
        school.id,
    )


def address_changed(user, m: Municipality, school: School, old: str) -> Draft:
    """Both addresses are told when a methodist changes an account's address."""
    return Draft(
        f"address|{user.pk}|{timezone.now().isoformat()}",
        NoticeKind.ADDRESS,
        m.code,
        "",
        list(dict.fromkeys(a for a in (old, user.email) if a)),
        f"Изменён адрес учётной записи в кабинете svod: {school.name}",
        body("address_changed", m, school=school, username=user.get_username(), old=old, new=user.email),
        school.id,
    )


def password_reset(user, address: str, uid: str, token: str) -> Draft:
    """The link to set a new password that a person asked for on the login page (any role)."""
    link = settings.PUBLIC_URL + reverse("password_reset_confirm", args=[uid, token])
    return Draft(
        f"password|{user.pk}|{timezone.now().isoformat()}",
        NoticeKind.PASSWORD,
        "",
        "",
        [address],
        "Новый пароль для кабинета svod",
        render_to_string(
            "cabinet/mail/password.txt",
            {"username": user.get_username(), "link": link, "public_url": settings.PUBLIC_URL},
        ).strip(),
    )


def due(today: date, municipality: str | None = None, period: str | None = None) -> list[Draft]:
    """Reminders, overdue notices and digests due on `today` for the periods whose collection is under way
    (from their start to EXTENSIONS_DAYS after the deadline, for ОО with an extended deadline)."""
    drafts = []
    for m in settings.WORKSPACE.reference.municipalities.values():
        for p in m.periods:
            wanted = municipality in (None, m.code) and period in (None, p.code)
            if wanted and p.start <= today <= p.deadline + timedelta(days=EXTENSIONS_DAYS):
                drafts += period_notices(m, p, today)
    return drafts


def in_window(today: date, deadline: date, before: int) -> bool:
    return deadline - timedelta(days=before) <= today <= deadline + timedelta(days=OVERDUE_DAYS)


def period_notices(m: Municipality, p: Period, today: date) -> list[Draft]:
    """Each ОО without an accepted return is reminded before its deadline and told after it; the municipality
    gets a digest each day around the period's deadline."""
    states = board(m, p)
    drafts = [
        school_notice(m, p, s, NoticeKind.REMINDER if today <= s.deadline else NoticeKind.OVERDUE)
        for s in states
        if not s.done and s.status != Status.PENDING and in_window(today, s.deadline, m.reminder_days)
    ]
    if in_window(today, p.deadline, m.reminder_days):
        counted = totals(states)
        drafts.append(
            Draft(
                f"digest|{m.code}|{p.code}|{today.isoformat()}",
                NoticeKind.DIGEST,
                m.code,
                p.code,
                [m.contact.email],
                f"Сдача отчётов о наставничестве за {p.code}: принято {counted['done']} из {counted['total']}",
                body(
                    "digest",
                    m,
                    municipality=m,
                    period=p,
                    today=today,
                    counts=counted,
                    board_url=f"{settings.PUBLIC_URL}/m/{m.code}/{period_slug(p.code)}/?order=problems",
                ),
            )
        )
    return drafts


def school_notice(m: Municipality, p: Period, s, kind: NoticeKind, asked_on: date | None = None) -> Draft:
    """A reminder or overdue notice to one ОО; `asked_on`: sent because a methodist asked that day (once a day),
    not by the calendar (once per deadline)."""
    refused = s.status in (Status.REJECTED, Status.RETURNED)
    subject = (
        f"Напоминание: срок сдачи отчёта о наставничестве — {s.deadline:%d.%m.%Y}"
        if kind == NoticeKind.REMINDER
        else f"Срок сдачи отчёта о наставничестве прошёл ({s.deadline:%d.%m.%Y})"
    )
    return Draft(
        f"{kind.value}|{s.school.id}|{p.code}|{s.deadline.isoformat()}|{'refused' if refused else 'missing'}"
        + (f"|asked|{asked_on.isoformat()}" if asked_on else ""),
        kind,
        m.code,
        p.code,
        school_addresses(s.school),
        f"{subject}: {s.school.name}",
        body("school_notice", m, period=p, state=s, refused=refused, overdue=kind == NoticeKind.OVERDUE),
        s.school.id,
    )


def remind_all(m: Municipality, p: Period, today: date, chosen: set[str] | None = None) -> int:
    """A methodist's «Напомнить всем» (or only the `chosen` ОО): a reminder (or, after its deadline, an overdue
    notice) to each ОО of the period without an accepted return, once a day; returns how many were recorded now."""
    return sum(
        bool(
            school_notice(
                m, p, s, NoticeKind.REMINDER if today <= s.deadline else NoticeKind.OVERDUE, asked_on=today
            ).record()
        )
        for s in board(m, p)
        if not s.done and (chosen is None or s.school.id in chosen) and school_addresses(s.school)
    )


def extended(decision: Decision) -> Draft:
    """An ОО is told its new deadline when a methodist extends it."""
    m = settings.WORKSPACE.reference.school_home(decision.school_id)
    return decision_notice(
        decision,
        NoticeKind.EXTENDED,
        "extended",
        f"Новый срок сдачи отчёта о наставничестве — {decision.deadline:%d.%m.%Y}: {{school}}",
        period_label=m.period(decision.period).label,
        deadline=decision.deadline,
        comment=decision.reason,
    )


def return_undone(decision: Decision) -> Draft:
    """An ОО is told that the return of its report was a mistake: the version it sent counts."""
    return decision_notice(
        decision,
        NoticeKind.RETURN_UNDONE,
        "return_undone",
        "Возврат отчёта отменён, отчёт принят: {school}, период {period}",
        comment=decision.reason,
    )


def recover() -> int:
    """Notices caught mid-send by a crash (sending for longer than a send takes) are not sent again
    automatically: staff see them as unconfirmed."""
    stale = timezone.now() - timedelta(seconds=SENDING_SECONDS)
    return Notice.objects.filter(state=NoticeState.SENDING, sending_since__lt=stale).update(
        state=NoticeState.UNCONFIRMED
    )


@task()
def send(notice_id: int) -> str:
    """Send one recorded notice; a failure is retried with backoff by enqueueing the task again. The task
    queue (django-tasks, database backend) runs it: `python -m cabinet mail` beside the server, `svod notify`
    at once."""
    now = timezone.now()
    with transaction.atomic():  # claimed before the send: a crash after it never sends this notice again
        if not Notice.objects.filter(pk=notice_id, state=NoticeState.QUEUED).update(
            state=NoticeState.SENDING, sending_since=now
        ):
            return "not queued"
    notice = Notice.objects.get(pk=notice_id)
    try:
        with get_connection() as connection:
            connection.send_messages([message(notice)])
    except Exception as exc:  # down, refused or dropped: nothing was accepted, so it can be tried again
        with transaction.atomic():
            send.using(run_after=postpone(notice, now, exc)).enqueue(notice_id)
        return "postponed"
    Notice.objects.filter(pk=notice_id).update(state=NoticeState.SENT, sent_at=timezone.now(), last_error="")
    return "sent"


def send_queued() -> tuple[int, int]:
    """Run the mail queue now until nothing is ready (`svod notify`); returns (sent now, waiting for a later
    attempt)."""
    started = timezone.now()
    call_command("db_worker", batch=True, interval=0, startup_delay=False, reload=False, verbosity=0)
    return (
        Notice.objects.filter(state=NoticeState.SENT, sent_at__gte=started).count(),
        Notice.objects.filter(state=NoticeState.QUEUED, next_attempt_at__gt=started).count(),
    )


def postpone(notice: Notice, now, exc: Exception):
    """Mark a notice for another attempt after its backoff; returns when."""
    retry_at = now + timedelta(seconds=BACKOFF_SECONDS[min(notice.attempts, len(BACKOFF_SECONDS) - 1)])
    Notice.objects.filter(pk=notice.pk).update(
        state=NoticeState.QUEUED,
        attempts=notice.attempts + 1,
        next_attempt_at=retry_at,
        last_error=str(exc)[:300],
    )
    log.warning("notice %s postponed: %s", notice.key, exc)
    return retry_at


def message(notice: Notice) -> EmailMessage:
    mail = EmailMessage(notice.subject, notice.body, to=notice.recipients)
    for name, relative in notice.attachments:
        path = settings.WORKSPACE.home / relative
        if path.exists():
            mail.attach(
                name, path.read_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
    return mail
