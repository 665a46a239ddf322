"""The cabinet probed as an attacker would, each probe kept as a test: an invitation that would take over an
account in use, mail sent inside a request, the headers of every page, password spraying from one address, the
client's address behind a proxy, and the upload limits. The authorization matrix and the methods of every address
are in test_cabinet.py, the cross-region run in test_one_truth.py, the served probes (HEAD, an early 413) in
test_serve.py."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from cabinet.accounts import create_account
from cabinet.limits import client_address
from cabinet.models import AuditEvent, Notice, NoticeKind, Role, Upload
from tests.support.cabinet import PASSWORD, client_for, filled, hand_in, template_of

pytestmark = pytest.mark.django_db
M, SCHOOL, SLUG = "arkhangelsk", "ARH-002", "2026-Q4"


class NoMailServer:
    """An e-mail backend that fails as a server that is down does: nothing may be sent inside a request."""

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        raise OSError("the mail server is down")

    def send_messages(self, messages):
        raise OSError("the mail server is down")


@pytest.fixture
def mail_down(settings):
    settings.EMAIL_BACKEND = f"{__name__}.NoMailServer"


def test_an_invitation_never_takes_over_an_account_in_use(mail_down):
    school = create_account(Role.SCHOOL, SCHOOL, email="shkola@arh.example", password=PASSWORD)
    methodist = client_for(Role.METHODIST, M)
    page = methodist.post(
        f"/users/{M}/", {"school_id": SCHOOL, "email": "metodist@evil.example"}, follow=True
    )
    school.refresh_from_db()
    assert page.status_code == 200 and "/invite/" not in page.content.decode()  # no link to set its password
    assert school.email == "shkola@arh.example" and school.check_password(PASSWORD)  # nothing changed
    [notice] = Notice.objects.filter(kind=NoticeKind.INVITATION)
    assert notice.recipients == ["shkola@arh.example"] and school.get_username() in notice.body
    assert "/invite/" in notice.body  # the new link goes to the address on record only
    assert AuditEvent.objects.filter(action__contains="повторное приглашение", school_id=SCHOOL).exists()


def test_a_new_account_gets_its_link_and_its_username_by_mail(mail_down):
    methodist = client_for(Role.METHODIST, M)
    page = methodist.post(f"/users/{M}/", {"school_id": SCHOOL, "email": "shkola@arh.example"})
    assert page.status_code == 200 and "/invite/" in page.content.decode()  # shown to the methodist too
    [notice] = Notice.objects.filter(kind=NoticeKind.INVITATION)
    assert (
        notice.recipients == ["shkola@arh.example"] and f"Имя пользователя: {SCHOOL.lower()}" in notice.body
    )


def test_a_change_of_address_is_its_own_action_told_to_both_addresses(mail_down):
    create_account(Role.SCHOOL, SCHOOL, email="old@arh.example", password=PASSWORD)
    methodist = client_for(Role.METHODIST, M)
    refused = methodist.post(f"/users/{M}/", {"school_id": SCHOOL, "email": "new@arh.example"}, follow=True)
    assert get_user_model().objects.get(username=SCHOOL.lower()).email == "old@arh.example"
    assert "/invite/" not in refused.content.decode()
    methodist.post(f"/users/{M}/address/", {"school_id": SCHOOL, "email": "new@arh.example"})
    user = get_user_model().objects.get(username=SCHOOL.lower())
    assert user.email == "new@arh.example" and user.check_password(PASSWORD)
    [told] = Notice.objects.filter(kind=NoticeKind.ADDRESS)
    assert told.recipients == ["old@arh.example", "new@arh.example"]
    event = AuditEvent.objects.get(action="изменён адрес учётной записи ОО")
    assert event.reason == "old@arh.example → new@arh.example"
    other = client_for(Role.METHODIST, "kedrovy")
    assert other.post(
        f"/users/{M}/address/", {"school_id": SCHOOL, "email": "x@evil.example"}
    ).status_code in (
        403,
        404,
    )


def test_a_password_reset_is_mailed_by_the_queue_not_inside_the_request(mail_down):
    create_account(Role.METHODIST, M, email="metodist@arh.example", password=PASSWORD)
    known = Client().post("/password/", {"email": "metodist@arh.example"})
    unknown = Client().post("/password/", {"email": "nobody@arh.example"})
    assert known.status_code == unknown.status_code == 302  # the same answer, and no mail server needed
    [notice] = Notice.objects.filter(kind=NoticeKind.PASSWORD)
    assert notice.recipients == ["metodist@arh.example"] and "/password/" in notice.body


def test_every_page_carries_the_security_headers(settings, tmp_path):
    school = client_for(Role.SCHOOL, SCHOOL)
    upload = hand_in(
        school, SCHOOL, SLUG, filled(template_of(school, SCHOOL, SLUG, tmp_path), tmp_path / "a.xlsx")
    )
    methodist = client_for(Role.METHODIST, M)
    pages = [
        (Client(), "/login/"),
        (Client(), "/password/"),
        (school, "/school/"),
        (school, f"/o/{SCHOOL}/{SLUG}/"),
        (school, f"/upload/{upload.pk}/"),
        (school, f"/upload/{upload.pk}/original/"),
        (school, f"/o/{SCHOOL}/{SLUG}/template/"),
        (methodist, f"/m/{M}/{SLUG}/"),
        (methodist, f"/m/{M}/{SLUG}/export/"),
        (methodist, f"/users/{M}/"),
        (methodist, f"/audit/{M}/"),
        (client_for(Role.REGION, "arkhangelsk_obl"), "/region/arkhangelsk_obl/"),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy
            and "frame-ancestors 'none'" in policy
        )
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
        if client is not pages[0][0] and url != "/password/":
            assert "no-store" in response["Cache-Control"], url  # personal: kept by no cache
        assert "Strict-Transport-Security" not in response  # served over http here
        if response.streaming:  # a download: saved as a file, never shown as a page
            assert response["Content-Disposition"].startswith("attachment"), url
            assert "html" not in response["Content-Type"], url
        else:
            html = response.content.decode()
            assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html, url
    settings.SECURE_HSTS_SECONDS = 31536000  # served over https (SVOD_PUBLIC_URL https://…)
    assert "max-age=31536000" in Client().get("/login/", secure=True)["Strict-Transport-Security"]


def test_one_address_trying_many_usernames_is_slowed(settings):
    settings.ADDRESS_FAILURE_LIMIT = 6
    create_account(Role.SCHOOL, "ARH-010", password=PASSWORD)
    sprayer = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(1, 7):  # one try per username: no username reaches its own limit
        assert (
            sprayer.post("/login/", {"username": f"arh-{n:03}", "password": "Пароль123"}).status_code == 200
        )
    locked = sprayer.post("/login/", {"username": "arh-010", "password": PASSWORD})
    assert locked.status_code == 429 and "Вход временно закрыт" in locked.content.decode()
    other = Client(REMOTE_ADDR="198.51.100.2")  # another address is not slowed
    assert other.post("/login/", {"username": "arh-010", "password": PASSWORD}).status_code == 302


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )  # a client wrote 6.6.6.6; nginx appended what it saw
    settings.PROXIES = 0
    assert client_address(request) == "127.0.0.1"  # no proxy configured: the header is the client's to forge
    settings.PROXIES = 1
    assert client_address(request) == "203.0.113.7"


def test_the_audit_log_records_the_address_an_action_came_from(settings):
    """Behind nginx, each audited action keeps the client's address (the one the proxy saw), shown and exported."""
    settings.PROXIES = 1
    methodist = client_for(
        Role.METHODIST, M, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    methodist.post(f"/m/{M}/{SLUG}/remind/")
    assert AuditEvent.objects.get(action__startswith="напоминание").address == "203.0.113.7"
    assert "203.0.113.7" in methodist.get(f"/audit/{M}/").content.decode()


def test_uploads_are_limited_per_account_and_per_school(settings, tmp_path):
    school = client_for(Role.SCHOOL, SCHOOL)
    workbook = filled(template_of(school, SCHOOL, SLUG, tmp_path), tmp_path / "a.xlsx")
    settings.UPLOADS_PER_HOUR = 2
    hand_in(school, SCHOOL, SLUG, workbook)
    hand_in(school, SCHOOL, SLUG, workbook)
    with open(workbook, "rb") as f:
        third = school.post(f"/o/{SCHOOL}/{SLUG}/upload/", {"file": f})
    assert third.status_code == 429 and "За последний час загружено 2 файлов" in third.content.decode()
    assert Upload.objects.count() == 2
    settings.UPLOADS_PER_HOUR = 100
    settings.SCHOOL_STORAGE_BYTES = 2 * workbook.stat().st_size + 10
    with open(workbook, "rb") as f:
        full = school.post(f"/o/{SCHOOL}/{SLUG}/upload/", {"file": f})
    assert full.status_code == 429 and "заняли всё место" in full.content.decode()
    assert Upload.objects.count() == 2


def test_without_its_database_the_cabinet_says_so_in_a_page_made_without_it(monkeypatch, caplog):
    """A request that meets the database away gets a Russian 503 (with Retry-After) that needs no session or
    account, and the log one line; a full disk is said as such; other failures keep a plain Russian 500."""
    from django.db.utils import OperationalError

    from cabinet.logs import OneLine
    from cabinet.views import school

    client = client_for(Role.SCHOOL, SCHOOL)
    client.raise_request_exception = False

    def away(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(school, "school_states", away)
    page = client.get("/school/")
    assert page.status_code == 503 and page["Retry-After"] == "30"
    assert "Сервис временно недоступен" in page.content.decode() and "Traceback" not in page.content.decode()
    [logged] = [r for r in caplog.records if r.exc_info]
    line = OneLine().format(logged)
    assert "\n" not in line and "OperationalError: connection to server" in line and "Traceback" not in line

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(school, "school_states", full)
    page = client.get("/school/")
    assert page.status_code == 507 and "закончилось место" in page.content.decode()


def test_health_says_which_services_are_up(tmp_path):
    from cabinet import worker

    answer = Client().get("/health/")
    state = answer.json()
    assert state["database"] is True and state["mail"]["waiting"] == 0
    assert answer.status_code == 503 and state["daemon_heartbeat_seconds"] is None  # no daemon in this test
    worker.beat_file().parent.mkdir(parents=True, exist_ok=True)
    worker.beat_file().touch()
    assert Client().get("/health/").json()["worker_seconds"] < 60


def test_login_ignores_the_case_of_the_username_and_a_password_can_be_changed():
    create_account(Role.SCHOOL, "ARH-011", password=PASSWORD)
    person = Client()
    assert (
        person.post("/login/", {"username": "ARH-011", "password": PASSWORD}).status_code == 302
    )  # as printed
    changed = person.post(
        "/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": "Новый-пароль-2027",
            "new_password2": "Новый-пароль-2027",
        },
    )
    assert changed.status_code == 302 and changed["Location"] == "/password/changed/"
    assert (
        Client().post("/login/", {"username": "arh-011", "password": "Новый-пароль-2027"}).status_code == 302
    )


def test_staff_sign_in_with_a_code_from_their_phone(settings):
    """With the second factor on (the default over https), a methodist's pages wait for a code from an app: the
    first time with a QR code to set it up; a wrong code is refused; a school signs in with its password alone."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.STAFF_TWO_FACTOR = True
    methodist = client_for(Role.METHODIST, M)
    held = methodist.get(f"/m/{M}/{SLUG}/")
    assert held.status_code == 302 and held["Location"].startswith("/2fa/?next=")
    setup = methodist.get(held["Location"])
    assert setup.status_code == 200 and "<svg" in setup.content.decode() and "Ключ:" in setup.content.decode()
    device = TOTPDevice.objects.get(user__username=f"metodist-{M}")
    assert not device.confirmed
    wrong = methodist.post("/2fa/", {"code": "000000", "next": f"/m/{M}/{SLUG}/"})
    assert wrong.status_code == 400 and "Код не подошёл" in wrong.content.decode()
    device.refresh_from_db()
    device.throttling_failure_count, device.throttling_failure_timestamp = 0, None  # the wait after a failure
    device.save()
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06}"
    passed = methodist.post("/2fa/", {"code": code, "next": f"/m/{M}/{SLUG}/"})
    assert passed.status_code == 302 and passed["Location"] == f"/m/{M}/{SLUG}/"
    assert methodist.get(f"/m/{M}/{SLUG}/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed and AuditEvent.objects.filter(action="подключён второй фактор входа").exists()
    assert client_for(Role.SCHOOL, SCHOOL).get("/school/").status_code == 200  # schools: the password alone
    again = client_for(Role.METHODIST, M)  # a new sign-in: the code again, no QR code this time
    asked = again.get(again.get(f"/m/{M}/{SLUG}/")["Location"]).content.decode()
    assert "<svg" not in asked and "Код из приложения" in asked


def test_a_database_password_with_reserved_characters_reaches_the_cabinet_as_dagster_reads_it(tmp_path):
    from pipeline.config import database_settings

    found = database_settings("postgresql://svod:p%40ss%2Fw%3Ard@127.0.0.1:5432/svod_cabinet", tmp_path)
    assert found["PASSWORD"] == "p@ss/w:rd" and found["USER"] == "svod" and found["NAME"] == "svod_cabinet"
