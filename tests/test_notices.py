"""Notices by e-mail against a real SMTP server on loopback (aiosmtpd): recipients, Russian subjects and
bodies, the annotated copy attached, a server that is down, and a crash between sending and recording."""

from __future__ import annotations

import email
import email.policy
import io
import socket
from datetime import timedelta

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from cabinet import notices
from cabinet.models import Notice, NoticeKind, NoticeState, Role
from pipeline.reference import load_reference
from tests.support.cabinet import client_for, filled, hand_in, template_of

pytestmark = pytest.mark.django_db
SCHOOL, SLUG = "ARH-001", "2026-Q4"


class Inbox:
    """What the SMTP server accepted: (recipients, parsed message)."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            (
                sorted(envelope.rcpt_tos),
                email.message_from_bytes(envelope.content, policy=email.policy.default),
            )
        )
        return "250 OK"


@pytest.fixture(autouse=True)
def queue_in_test_transaction(monkeypatch):
    """The mail queue's worker closes connections it finds in a transaction, as a test's is: not here."""
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    controller.start()
    inbox.controller, inbox.port = controller, port
    yield inbox
    inbox.controller.stop()


def school_addresses(school_id: str) -> list[str]:
    s = load_reference().school_home(school_id).school(school_id)
    return sorted([s.email, s.curator_email])


def test_a_refused_upload_mails_the_school_its_receipt_with_the_annotated_copy(smtp, tmp_path):
    client = client_for(Role.SCHOOL, SCHOOL)
    template = template_of(client, SCHOOL, SLUG, tmp_path)
    upload = hand_in(client, SCHOOL, SLUG, filled(template, tmp_path / "a.xlsx", "bad_date"))
    assert smtp.received == []  # recorded by the request, sent by the worker
    assert notices.send_queued() == (1, 0)
    [(to, mail)] = smtp.received
    assert to == school_addresses(SCHOOL)
    assert mail["Subject"].strip().startswith("Отчёт о наставничестве не принят: МБОУ «Средняя школа № 1»")
    body = mail.get_body(("plain",)).get_content()
    cell = next(i["cell"] for i in upload.issues if i["severity"] == "error")
    assert (
        f"Наставнические пары и группы, ячейка {cell} — ошибка: «31.02.2025» не распознано как дата." in body
    )
    assert "nastavnichestvo@arkhangelsk-edu.example" in body or "эл. почта" in body
    files = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    assert set(files) == {f"{SCHOOL}_{SLUG}_квитанция.xlsx", f"{SCHOOL}_{SLUG}_с_пометками.xlsx"}
    assert (
        "Ошибки" in openpyxl.load_workbook(io.BytesIO(files[f"{SCHOOL}_{SLUG}_с_пометками.xlsx"])).sheetnames
    )
    assert Notice.objects.get().state == NoticeState.SENT
    assert notices.send_queued() == (0, 0)  # nothing twice


def test_a_return_for_correction_mails_the_reason(smtp, tmp_path):
    client = client_for(Role.SCHOOL, SCHOOL)
    hand_in(client, SCHOOL, SLUG, filled(template_of(client, SCHOOL, SLUG, tmp_path), tmp_path / "a.xlsx"))
    client_for(Role.METHODIST, "arkhangelsk").post(
        f"/o/{SCHOOL}/{SLUG}/decide/", {"kind": "return", "reason": "Нет приказа"}
    )
    notices.send_queued()
    returned = [
        m for _, m in smtp.received if m["Subject"].strip().startswith("Отчёт возвращён на доработку")
    ]
    assert len(returned) == 1 and "Причина: Нет приказа" in returned[0].get_body(("plain",)).get_content()


@pytest.mark.django_db(transaction=True)  # the send commits its claim before it talks to the server
def test_a_server_that_is_down_delays_notices_which_then_go_exactly_once(smtp, tmp_path):
    client = client_for(Role.SCHOOL, SCHOOL)
    hand_in(client, SCHOOL, SLUG, filled(template_of(client, SCHOOL, SLUG, tmp_path), tmp_path / "a.xlsx"))
    smtp.controller.stop()
    assert notices.send_queued() == (0, 1)
    notice = Notice.objects.get()
    assert (
        notice.state == NoticeState.QUEUED
        and notice.attempts == 1
        and notice.next_attempt_at > timezone.now()
    )
    retry = DBTaskResult.objects.ready()
    assert not retry.exists()  # not before its next attempt
    smtp.controller = Controller(smtp, hostname="127.0.0.1", port=smtp.port)  # the server is back
    smtp.controller.start()
    assert notices.send_queued() == (0, 1)  # still waiting for its next attempt
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())  # its time has come
    assert notices.send_queued() == (1, 0) and notices.send_queued() == (0, 0)
    assert len(smtp.received) == 1


def test_a_crash_between_sending_and_recording_never_sends_twice(smtp, tmp_path, monkeypatch):
    client = client_for(Role.SCHOOL, SCHOOL)
    hand_in(client, SCHOOL, SLUG, filled(template_of(client, SCHOOL, SLUG, tmp_path), tmp_path / "a.xlsx"))
    from django.core.mail.backends.smtp import EmailBackend

    delivered = EmailBackend.send_messages

    def deliver_then_die(self, messages):
        delivered(self, messages)
        raise SystemExit("killed after the server accepted the message")  # the process dies before recording

    monkeypatch.setattr(EmailBackend, "send_messages", deliver_then_die)
    notices.send_queued()  # the queue records the task as failed; the notice stays claimed
    monkeypatch.setattr(EmailBackend, "send_messages", delivered)
    assert Notice.objects.get().state == NoticeState.SENDING
    assert notices.recover() == 0  # a send may still be under way
    Notice.objects.update(sending_since=timezone.now() - timedelta(hours=1))
    assert notices.recover() == 1  # the worker's next look
    Notice.objects.update(state=NoticeState.UNCONFIRMED)
    DBTaskResult.objects.update(status="READY", run_after=timezone.now())  # even were the task run again
    assert notices.send_queued() == (0, 0)
    assert len(smtp.received) == 1 and Notice.objects.get().state == NoticeState.UNCONFIRMED


def test_reminders_overdue_and_digest_say_the_right_thing_once(tmp_path):
    m = load_reference().municipalities["kedrovy"]
    period = m.periods[-1]
    first, second = m.schools[0].id, m.schools[1].id
    client = client_for(Role.SCHOOL, first)
    hand_in(
        client,
        first,
        period.code,
        filled(template_of(client, first, period.code, tmp_path), tmp_path / "a.xlsx", "bad_date"),
    )
    before = notices.due(period.deadline - timedelta(days=m.reminder_days))
    reminders = {d.school_id: d for d in before if d.kind == NoticeKind.REMINDER}
    assert set(reminders) == {s.id for s in m.schools}
    assert "ваш отчёт не принят" in reminders[first].body and "ещё не получен" in reminders[second].body
    assert reminders[second].recipients == school_addresses(second)
    [digest] = [d for d in before if d.kind == NoticeKind.DIGEST]
    assert digest.recipients == [m.contact.email] and f"/m/kedrovy/{period.code}/" in digest.body
    assert notices.due(period.deadline - timedelta(days=m.reminder_days + 1)) == []
    after = notices.due(period.deadline + timedelta(days=1))
    assert {d.kind for d in after} == {NoticeKind.OVERDUE, NoticeKind.DIGEST}
    assert sum(bool(d.record()) for d in after) == len(after)
    assert sum(bool(d.record()) for d in notices.due(period.deadline + timedelta(days=1))) == 0  # keys: once


def test_the_methodist_corrects_a_schools_addresses_and_notices_follow():
    school = load_reference().school_home(SCHOOL).school(SCHOOL)
    new = {"email": "sch1@arh.example", "curator_email": "kurator@arh.example"}
    assert client_for(Role.SCHOOL, SCHOOL).post(f"/o/{SCHOOL}/{SLUG}/contacts/", new).status_code == 404
    client_for(Role.METHODIST, "arkhangelsk").post(f"/o/{SCHOOL}/{SLUG}/contacts/", new)
    assert notices.school_addresses(school) == ["sch1@arh.example", "kurator@arh.example"]
    refused = client_for(Role.METHODIST, "arkhangelsk").post(
        f"/o/{SCHOOL}/{SLUG}/contacts/", {**new, "email": "не адрес"}, follow=True
    )
    assert (
        "Адреса не сохранены" in refused.content.decode()
        and notices.school_addresses(school)[0] == "sch1@arh.example"
    )


def test_a_methodist_reminds_everyone_who_has_not_handed_in_once_a_day(tmp_path):
    m = load_reference().municipalities["kedrovy"]
    period = m.periods[-1]
    methodist = client_for(Role.METHODIST, m.code)
    board = methodist.get(f"/m/{m.code}/{period.code}/").content.decode()
    assert "Напомнить всем, кто не сдал" in board and m.schools[0].email in board  # whom to chase, and how
    methodist.post(f"/m/{m.code}/{period.code}/remind/")
    asked = Notice.objects.filter(key__contains="|asked|")
    assert asked.count() == len(m.schools)  # nobody has an accepted return yet
    assert {n.school_id for n in asked} == {s.id for s in m.schools}
    page = methodist.post(f"/m/{m.code}/{period.code}/remind/", follow=True).content.decode()
    assert asked.count() == len(m.schools) and "Новых напоминаний нет" in page  # not twice a day


def test_an_extension_is_mailed_with_the_new_deadline(tmp_path):
    client = client_for(Role.SCHOOL, SCHOOL)
    hand_in(
        client,
        SCHOOL,
        SLUG,
        filled(template_of(client, SCHOOL, SLUG, tmp_path), tmp_path / "a.xlsx", "bad_date"),
    )
    client_for(Role.METHODIST, "arkhangelsk").post(
        f"/o/{SCHOOL}/{SLUG}/decide/",
        {"kind": "extend", "deadline": "2027-03-01", "reason": "болезнь куратора"},
    )
    [notice] = Notice.objects.filter(kind=NoticeKind.EXTENDED)
    assert "новый срок — 01.03.2027" in notice.body and "болезнь куратора" in notice.body
    assert notice.recipients == school_addresses(SCHOOL)
