"""The cabinet through Django's test client: handing in and the verdict, decisions and statuses, the worker,
the authorization matrix (every pair of schools, methodists across municipalities, regions across regions),
CSRF, upload limits, the reliability corpus, accounts and login throttling."""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from cabinet import engine, runs, worker, workflow
from cabinet.accounts import create_account
from cabinet.models import (
    AppendOnly,
    AuditEvent,
    Decision,
    Job,
    JobState,
    Notice,
    NoticeState,
    RecordedState,
    Role,
    Upload,
)
from cabinet.views.staff import BOARD_PAGE_ROWS
from pipeline import in_process
from pipeline.domain.vocabulary import Decision as Decided
from pipeline.domain.vocabulary import Status
from pipeline.intake import decisions, handing
from pipeline.reference import load_reference
from samples.reliability import corpus
from tests.support.cabinet import PASSWORD, body, client_for, filled, hand_in, template_of

pytestmark = pytest.mark.django_db
SCHOOL, M, SLUG = "ARH-001", "arkhangelsk", "2026-Q4"  # a period open today: returns are on time


@pytest.fixture
def school(tmp_path):
    client = client_for(Role.SCHOOL, SCHOOL)
    return client, template_of(client, SCHOOL, SLUG, tmp_path)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_school_hands_in_sees_problems_by_cell_and_then_acceptance(school, tmp_path):
    client, template = school
    wrong = hand_in(
        client, SCHOOL, SLUG, filled(template, tmp_path / "a.xlsx", "bad_date"), "Отчёт школы.xlsx"
    )
    assert wrong.verdict == "rejected" and wrong.forwarded and wrong.history_checked
    page = text(client.get(f"/upload/{wrong.pk}/"))
    assert "Отчёт не принят" in page and "Наставнические пары и группы" in page and "31.02.2025" in page
    cell = next(i["cell"] for i in wrong.issues if i["severity"] == "error")
    assert f">{cell}<" in page.replace(" ", "")
    annotated = client.get(f"/upload/{wrong.pk}/annotated/")
    assert annotated.status_code == 200 and "attachment" in annotated["Content-Disposition"]
    (tmp_path / "copy.xlsx").write_bytes(body(annotated))
    assert "Ошибки" in openpyxl.load_workbook(tmp_path / "copy.xlsx").sheetnames
    assert (
        engine.archived(wrong.sha256).read_bytes() == (tmp_path / "a.xlsx").read_bytes()
    )  # kept byte for byte

    fixed = hand_in(client, SCHOOL, SLUG, filled(template, tmp_path / "b.xlsx"))
    assert fixed.verdict == "accepted"
    page = text(client.get(f"/upload/{fixed.pk}/"))
    assert "Отчёт принят" in page and "Исправлено замечаний: 1" in page
    assert "принят" in text(client.get(f"/o/{SCHOOL}/{SLUG}/"))
    receipt = body(client.get(f"/upload/{fixed.pk}/receipt_text/")).decode()
    assert "ПРИНЯТ" in receipt and "исправлено замечаний: 1" in receipt


def test_a_file_of_another_school_or_period_is_refused_and_not_handed_on(tmp_path):
    other = client_for(Role.SCHOOL, "ARH-002")
    theirs = template_of(client_for(Role.SCHOOL, SCHOOL), SCHOOL, SLUG, tmp_path)
    upload = hand_in(other, "ARH-002", SLUG, filled(theirs, tmp_path / "x.xlsx"))
    assert upload.verdict == "rejected" and not upload.forwarded and upload.issues[0]["rule"] == "U01"
    assert "другой организации" in text(other.get(f"/upload/{upload.pk}/"))
    wrong_period = hand_in(
        client_for(Role.SCHOOL, SCHOOL), SCHOOL, "2026-Q3", filled(theirs, tmp_path / "y.xlsx")
    )
    assert wrong_period.issues[0]["rule"] == "U02" and not wrong_period.forwarded
    inbox = engine.workspace().inbox
    assert not (inbox / f"{upload.pk}.xlsx").exists() and not (inbox / f"{wrong_period.pk}.xlsx").exists()


def test_uploads_that_queue_are_checked_together_each_with_its_own_answer(tmp_path, monkeypatch):
    """A burst of uploads shares one checking call; each file still gets exactly the verdict, issues and answer
    it gets when checked alone (another school's file is still refused for its uploader only)."""
    template = template_of(client_for(Role.SCHOOL, SCHOOL), SCHOOL, SLUG, tmp_path)
    files = {
        "ARH-001": filled(template, tmp_path / "good.xlsx"),
        "ARH-002": filled(template, tmp_path / "theirs.xlsx"),
        "ARH-003": filled(template, tmp_path / "bad.xlsx", "bad_date"),
    }
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(files["ARH-001"].read_bytes()[:4000])
    files["ARH-004"] = broken
    ws = engine.workspace()

    def waiting(school: str, path: Path, folder: str) -> handing.Handing:
        return handing.handing(
            ws,
            f"{folder}-{school}",
            path.read_bytes(),
            path.name,
            school,
            SLUG,
            datetime(2026, 11, 2, 10),
            None,
            tmp_path / folder / school,
        )

    alone = [handing.take([waiting(s, p, "alone")])[0] for s, p in files.items()]
    together = handing.take([waiting(s, p, "together") for s, p in files.items()])
    assert [(c.verdict, [i.rule for i in c.issues]) for c in together] == [
        (c.verdict, [i.rule for i in c.issues]) for c in alone
    ]
    assert [c.verdict for c in together][:2] == ["accepted", "rejected"] and together[1].issues[
        0
    ].rule == "U01"
    for school in files:
        assert sorted(p.name for p in (tmp_path / "together" / school).rglob("*")) == sorted(
            p.name for p in (tmp_path / "alone" / school).rglob("*")
        )
    assert [c.forwarded for c in together] == [True, False, False, False]  # the others name ARH-001 or nobody
    for forwarded in ws.inbox.glob("*-ARH-001.xlsx"):
        forwarded.unlink()

    sizes, first_taken, release = [], threading.Event(), threading.Event()

    def in_process(fn, handings):  # the first call holds its process until the others have queued
        sizes.append(len(handings))
        first_taken.set()
        release.wait(30)
        return fn(handings)

    monkeypatch.setattr(engine, "in_checking_process", in_process)
    line = engine.CheckingLine()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(line.check, waiting("ARH-001", files["ARH-001"], "line0"))
        first_taken.wait(30)
        second = pool.submit(line.check, waiting("ARH-002", files["ARH-002"], "line1"))
        while len(sizes) < 2:  # the second dispatcher takes the next one alone
            time.sleep(0.01)
        rest = [
            pool.submit(line.check, waiting(s, p, f"line{k}"))
            for k, (s, p) in enumerate(files.items(), start=2)
        ]
        time.sleep(0.2)
        release.set()
        answers = [f.result(60) for f in (first, second, *rest)]
    assert sizes[:2] == [1, 1] and sum(sizes) == 6 and max(sizes[2:]) > 1, (
        sizes
    )  # the four queued went together
    assert [a.verdict for a in answers[2:]] == [c.verdict for c in alone]
    for forwarded in ws.inbox.glob("line*-ARH-001.xlsx"):
        forwarded.unlink()


@pytest.mark.e2e  # the worker runs a consolidation
def test_return_with_reason_approve_and_the_worker_records_it(school, tmp_path):
    client, template = school
    upload = hand_in(client, SCHOOL, SLUG, filled(template, tmp_path / "a.xlsx", seed=11))
    methodist = client_for(Role.METHODIST, M)
    refused = methodist.post(f"/o/{SCHOOL}/{SLUG}/decide/", {"kind": "return", "reason": " "}, follow=True)
    assert "Укажите причину" in text(refused) and not Decision.objects.exists()
    methodist.post(
        f"/o/{SCHOOL}/{SLUG}/decide/", {"kind": "return", "reason": "Нет приказа о закреплении пар"}
    )
    page = text(client.get("/school/"))
    assert "возвращён на доработку" in page and "Нет приказа о закреплении пар" in page

    time.sleep(1.1)  # the warehouse orders arrivals by the second (docs/cabinet.md, "Known limits")
    again = hand_in(client, SCHOOL, SLUG, filled(template, tmp_path / "b.xlsx", seed=12))
    methodist.post(f"/o/{SCHOOL}/{SLUG}/decide/", {"kind": "approve"})
    assert "утверждён" in text(client.get(f"/o/{SCHOOL}/{SLUG}/"))
    assert Job.objects.filter(kind="consolidate").count() == 1  # the second joins the run still waiting
    assert in_process.run_asked(engine.workspace())  # what Dagster's daemon does with what the cabinet asked
    worker.sync(M, SLUG)
    for job in Job.objects.all():
        assert runs.refresh(job).state == JobState.DONE, job.progress
    state = RecordedState.objects.get(school_id=SCHOOL, period=SLUG)
    assert state.sha256 == again.sha256 and state.verdict == "accepted"
    assert Upload.objects.get(pk=again.pk).recorded_verdict == "accepted"
    assert Upload.objects.get(pk=upload.pk).recorded_verdict == "accepted"
    with engine.workspace().connect(read_only=True) as con:
        assert (
            con.execute("SELECT sha256 FROM approval WHERE school_id = ?", [SCHOOL]).fetchone()[0]
            == again.sha256
        )
        loaded = con.execute(
            "SELECT payload FROM answer WHERE sha256 = ? AND kind = 'receipt'", [again.sha256]
        ).fetchone()[0]
    said = json.loads(loaded)["changes"]  # one "what changed": the cabinet's answer and the load's agree
    assert (
        said.startswith("исправлено замечаний")
        and said in engine.answer_file(again.pk, "receipt_text").read_text()
    )
    actions = list(AuditEvent.objects.filter(school_id=SCHOOL).values_list("action", flat=True))
    assert any("возвращён" in a for a in actions) and any("утверждён" in a for a in actions)


def test_the_audit_log_is_append_only():
    event = AuditEvent.objects.create(actor="x", role=Role.METHODIST, action="проверка")
    event.action = "изменено"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()


def test_board_lists_every_school_and_exports_to_excel(school, tmp_path):
    client, template = school
    hand_in(client, SCHOOL, SLUG, filled(template, tmp_path / "a.xlsx", "bad_date"))
    methodist = client_for(Role.METHODIST, M)
    page = text(methodist.get(f"/m/{M}/{SLUG}/?order=problems"))
    schools = load_reference().municipalities[M].schools
    assert len(schools) > BOARD_PAGE_ROWS and 'не принят — <span data-status="rejected">1</span>' in page
    first_row = re.search(r'data-school="([^"]+)"', page).group(1)
    assert first_row == SCHOOL  # problems first
    rows = []  # every ОО on exactly one page, the order and the totals kept across pages
    for number in (1, 2):
        page = text(methodist.get(f"/m/{M}/{SLUG}/?order=problems&page={number}"))
        rows += re.findall(r'data-school="([^"]+)"', page)
        assert f"из {len(schools)} ОО" in page and 'не принят — <span data-status="rejected">1</span>' in page
    assert sorted(rows) == sorted(s.id for s in schools) and rows[0] == SCHOOL
    assert "page=2" in text(methodist.get(f"/m/{M}/{SLUG}/?order=problems")).replace("&amp;", "&")
    found = text(methodist.get(f"/m/{M}/{SLUG}/", {"q": schools[-1].id.lower()}))
    assert re.findall(r'data-school="([^"]+)"', found) == [schools[-1].id]
    # the kept board follows what changed since: another school hands in, the methodist returns the first
    other = client_for(Role.SCHOOL, "ARH-002")
    hand_in(
        other, "ARH-002", SLUG, filled(template_of(other, "ARH-002", SLUG, tmp_path), tmp_path / "b.xlsx")
    )
    methodist.post(f"/o/{SCHOOL}/{SLUG}/decide/", {"kind": "return", "reason": "Нет приказа"})
    m = load_reference().municipalities[M]
    kept = workflow.board(m, m.period(SLUG))
    computed = [workflow.school_state(m, s, m.period(SLUG)) for s in m.schools]  # each ОО on its own
    assert [(s.school.id, s.status, s.reason, s.justified) for s in kept] == [
        (s.school.id, s.status, s.reason, s.justified) for s in computed
    ]
    assert {s.school.id: s.status for s in kept}["ARH-002"] in ("accepted", "accepted_with_warnings")
    assert {s.school.id: s.status for s in kept}[SCHOOL] == "returned"
    Upload.objects.filter(
        school_id="ARH-002"
    ).delete()  # rows gone (a restored database): computed again in full
    assert {s.school.id: s.status for s in workflow.board(m, m.period(SLUG))}["ARH-002"] == "not_sent"
    export = methodist.get(f"/m/{M}/{SLUG}/export/")
    (tmp_path / "board.xlsx").write_bytes(body(export))
    rows = list(openpyxl.load_workbook(tmp_path / "board.xlsx").active.iter_rows(values_only=True))
    assert sum(1 for r in rows if r and r[0] in {s.id for s in schools}) == len(schools)


# --- scope: every object of another organisation is a 404 ----------------------------------------------------

SMALL = "kedrovy"  # every pair of its schools


def school_urls(school: str, slug: str, upload: Upload) -> list[tuple[str, str]]:
    return [
        ("get", f"/o/{school}/{slug}/"),
        ("get", f"/o/{school}/{slug}/template/"),
        ("get", f"/upload/{upload.pk}/"),
        *[
            ("get", f"/upload/{upload.pk}/{kind}/")
            for kind in ("receipt", "receipt_text", "annotated", "original")
        ],
        ("post", f"/o/{school}/{slug}/upload/"),
        ("post", f"/upload/{upload.pk}/justify/"),
        ("post", f"/o/{school}/{slug}/decide/"),
        ("post", f"/o/{school}/{slug}/contacts/"),
    ]


def fetch(client: Client, method: str, url: str) -> int:
    return (
        client.get(url)
        if method == "get"
        else client.post(url, {"kind": "accept", "issue_key": "x", "text": "y"})
    ).status_code


def test_authorization_matrix(tmp_path):
    m = load_reference().municipalities[SMALL]
    slug = m.periods[-1].code
    clients, uploads = {}, {}
    for s in m.schools:
        clients[s.id] = client_for(Role.SCHOOL, s.id)
        template = template_of(clients[s.id], s.id, slug, tmp_path)
        uploads[s.id] = hand_in(
            clients[s.id], s.id, slug, filled(template, tmp_path / f"{s.id}.xlsx", "bad_date")
        )
    for s in m.schools:  # the school reaches its own objects (what the refusals below are measured against)
        own = school_urls(s.id, slug, uploads[s.id])
        assert [fetch(clients[s.id], "get", url) for method, url in own if method == "get"] == [200] * 7
    for a, b in itertools.permutations(m.schools, 2):
        for method, url in school_urls(b.id, slug, uploads[b.id]):
            assert fetch(clients[a.id], method, url) in (403, 404), (a.id, method, url)

    own, other = client_for(Role.METHODIST, SMALL), client_for(Role.METHODIST, "levokumsky")
    staff_urls = [
        ("get", f"/m/{SMALL}/{slug}/"),
        ("get", f"/m/{SMALL}/{slug}/export/"),
        ("get", f"/audit/{SMALL}/"),
        ("get", f"/users/{SMALL}/"),
        ("post", f"/users/{SMALL}/address/"),
        ("post", f"/m/{SMALL}/{slug}/consolidate/"),
        ("get", f"/m/{SMALL}/{slug}/summary/"),
    ]
    for s in m.schools:
        for method, url in school_urls(s.id, slug, uploads[s.id]):
            assert fetch(other, method, url) in (403, 404), url
        assert (
            fetch(own, "get", f"/o/{s.id}/{slug}/") == 200
            and fetch(own, "get", f"/upload/{uploads[s.id].pk}/annotated/") == 200
        )
    for method, url in staff_urls:
        assert fetch(other, method, url) in (403, 404), url
    assert fetch(own, "get", staff_urls[0][1]) == 200

    tomsk, stavropol = client_for(Role.REGION, "tomsk_obl"), client_for(Role.REGION, "stavropol_krai")
    assert fetch(tomsk, "get", "/region/tomsk_obl/") == 200
    for url in ("/region/tomsk_obl/", "/region/tomsk_obl/file/svod_region_tomsk_obl_2026.xlsx/"):
        assert fetch(stavropol, "get", url) in (403, 404)
    assert fetch(stavropol, "post", "/region/tomsk_obl/consolidate/") in (403, 404)
    for method, url in school_urls(m.schools[0].id, slug, uploads[m.schools[0].id]) + staff_urls:
        assert fetch(tomsk, method, url) in (403, 404), url  # a region sees aggregates only, never a school
    job = Job.objects.create(kind="consolidate", municipality=SMALL, region=m.region, period=slug)
    assert fetch(other, "get", f"/job/{job.pk}/") == 404 and fetch(own, "get", f"/job/{job.pk}/") == 200


def test_a_post_without_csrf_token_is_refused(school, tmp_path):
    _, template = school
    strict = client_for(Role.SCHOOL, SCHOOL, enforce_csrf_checks=True)
    with open(filled(template, tmp_path / "a.xlsx"), "rb") as f:
        response = strict.post(f"/o/{SCHOOL}/{SLUG}/upload/", {"file": f})
    assert response.status_code == 403 and "Доступ запрещён" in text(response)
    assert not Upload.objects.exists()


def test_an_oversized_upload_is_refused_before_its_body_is_read(school):
    client, _ = school
    response = client.generic(
        "POST",
        f"/o/{SCHOOL}/{SLUG}/upload/",
        b"x",
        CONTENT_TYPE="multipart/form-data; boundary=b",
        CONTENT_LENGTH=str(200 * 1024 * 1024),
    )
    assert response.status_code == 413 and "Файл слишком большой" in text(response)


def test_a_late_return_gets_a_new_deadline_and_a_mistaken_return_is_undone(tmp_path, settings):
    """Returned after the deadline, the ОО is given RETURN_DAYS more (told in the e-mail, not shown as late);
    a return made by mistake is undone: the version counts again, the ОО is told, the warehouse follows."""
    late = "2026-Q3"  # its deadline has passed
    client = client_for(Role.SCHOOL, SCHOOL)
    hand_in(client, SCHOOL, late, filled(template_of(client, SCHOOL, late, tmp_path), tmp_path / "a.xlsx"))
    methodist = client_for(Role.METHODIST, M)
    methodist.post(f"/o/{SCHOOL}/{late}/decide/", {"kind": "return", "reason": "Нет приказа"})
    returned = Decision.objects.get(kind="return")
    assert returned.deadline == timezone.localdate() + timedelta(days=settings.RETURN_DAYS)
    page = text(client.get("/school/"))
    assert f"{returned.deadline:%d.%m.%Y}" in page and "возвращён на доработку" in page
    assert f"до {returned.deadline:%d.%m.%Y}" in Notice.objects.get(kind="returned").body
    Notice.objects.update(state=NoticeState.SENT, sent_at=timezone.now())  # as the queue marks it
    # with no mail server configured, «sent» means written to a file, and the page says so
    assert "записано в файл: почта не настроена" in text(methodist.get(f"/o/{SCHOOL}/{late}/"))

    undo = text(methodist.post(f"/o/{SCHOOL}/{late}/decide/", {"kind": "accept"}, follow=True))
    assert "Решение записано: отмена возврата" in undo
    assert workflow.school_state(
        load_reference().municipalities[M],
        load_reference().municipalities[M].school(SCHOOL),
        load_reference().municipalities[M].period(late),
    ).status in (Status.ACCEPTED, Status.ACCEPTED_WITH_WARNINGS)
    assert "ничего исправлять не нужно" in Notice.objects.get(kind="return_undone").body.lower()
    handed = [d for _, d in decisions.pending(engine.workspace(), M, late)]
    assert [d.kind for d in handed] == [Decided.RETURN, Decided.ACCEPT]  # the warehouse clears the mark


def test_a_methodist_approves_the_chosen_schools_at_once(tmp_path):
    """«Утвердить отмеченные»: each chosen accepted return is approved as on its own page; one not handed in is
    named and left; the warehouse follows by one run."""
    for school_id in ("ARH-001", "ARH-002"):
        client = client_for(Role.SCHOOL, school_id)
        template = template_of(client, school_id, SLUG, tmp_path)
        hand_in(client, school_id, SLUG, filled(template, tmp_path / f"{school_id}.xlsx"))
    methodist = client_for(Role.METHODIST, M)
    board = text(methodist.get(f"/m/{M}/{SLUG}/"))
    assert 'value="ARH-001" form="chosen"' in board and 'value="ARH-003" form="chosen"' in board
    done = text(
        methodist.post(f"/m/{M}/{SLUG}/approve/", {"school": ["ARH-001", "ARH-002", "ARH-003"]}, follow=True)
    )
    assert "Утверждено отчётов: 2" in done and "Не утверждены:" in done
    assert sorted(Decision.objects.filter(kind="approve").values_list("school_id", flat=True)) == [
        "ARH-001",
        "ARH-002",
    ]
    assert Job.objects.filter(kind="consolidate").count() == 1
    assert client_for(Role.METHODIST, "kedrovy").post(
        f"/m/{M}/{SLUG}/approve/", {"school": ["ARH-001"]}
    ).status_code in (403, 404)
    # reminders to the chosen only: the approved one is not reminded
    reminded = text(methodist.post(f"/m/{M}/{SLUG}/remind/", {"school": ["ARH-003", "ARH-001"]}, follow=True))
    assert "Напоминания поставлены в очередь писем: 1" in reminded
    assert list(
        Notice.objects.filter(kind__in=["reminder", "overdue"]).values_list("school_id", flat=True)
    ) == ["ARH-003"]


def test_a_methodist_invites_every_school_without_an_account_at_once():
    client_for(Role.SCHOOL, "ARH-001")  # has its account
    invited = text(client_for(Role.METHODIST, M).post(f"/users/{M}/invite-all/", follow=True))
    schools = load_reference().municipalities[M].schools
    with_address = [s for s in schools if s.email or s.curator_email]
    assert f"Приглашения поставлены в очередь писем: {len(with_address) - 1}" in invited
    mailed = set(Notice.objects.filter(kind="invitation").values_list("school_id", flat=True))
    assert mailed == {s.id for s in with_address} - {"ARH-001"}
    assert client_for(Role.METHODIST, "kedrovy").post(f"/users/{M}/invite-all/").status_code in (403, 404)


def test_a_part_of_a_page_asked_for_without_a_session_gets_401_not_the_login_page(school, tmp_path):
    """htmx then says the session ended and keeps the form (cabinet.js); a whole page still goes to login."""
    _, template = school
    anonymous = Client()
    with filled(template, tmp_path / "a.xlsx").open("rb") as f:
        asked = anonymous.post(f"/o/{SCHOOL}/{SLUG}/upload/", {"file": f}, HTTP_HX_REQUEST="true")
    assert asked.status_code == 401 and not Upload.objects.exists()
    assert anonymous.get(f"/o/{SCHOOL}/{SLUG}/").status_code == 302


def test_a_schools_home_puts_the_period_due_now_first_with_its_methodists_address():
    create_account(Role.METHODIST, M, email="metodist@arh-edu.example", password=PASSWORD)
    page = text(client_for(Role.SCHOOL, SCHOOL).get("/school/"))
    due = page.index("Сейчас сдаётся: IV квартал 2026 г.")  # today's open period, in words
    assert due < page.index("Все периоды") < page.index("III квартал 2026 г.")
    assert "metodist@arh-edu.example" in page and ">2026-Q3<" not in page  # in words, not codes


@pytest.mark.slow  # the whole reliability corpus
def test_every_class_of_the_reliability_corpus_gets_a_russian_answer(school, tmp_path, settings):
    client, template = school
    settings.UPLOADS_PER_HOUR = 10_000  # a hostile file a minute is not what this test is about
    good = filled(template, tmp_path / "good.xlsx").read_bytes()
    answered, cases = 0, corpus(good, {})
    for case in cases:
        path = tmp_path / "case.bin"
        path.write_bytes(case.data)
        name = f"../../etc/{case.name}"
        response = client.post(f"/o/{SCHOOL}/{SLUG}/upload/", {"file": open_named(path, name)})
        if response.status_code == 413:  # refused before reading: the page says why
            assert "Файл слишком большой" in text(response), case.name
            answered += 1
            continue
        assert response.status_code in (302, 400), (case.name, response.status_code)
        if response.status_code == 400:  # refused by the form (an empty file)
            assert re.search("[а-я]{4}", text(response)), case.name
            answered += 1
            continue
        upload = Upload.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
        page = text(client.get(f"/upload/{upload.pk}/"))
        assert re.search("Отчёт (не )?принят", page), case.name  # every file gets a verdict in words
        if upload.verdict == "rejected":
            problem = next(i for i in upload.issues if i["severity"] == "error")
            assert re.search("[а-яё]{3}", problem["message"]), case.name
            assert "Отчёт не принят" in page and re.sub(r"\s+", " ", escape(problem["message"])) in page, (
                case.name
            )
        answered += 1
    assert answered == len(cases)
    home = engine.workspace().home
    sent = {c.name for c in cases}  # stored under a client's name: never (a hash may end like a short name)
    assert not [p for p in home.rglob("*") if "etc" in p.parts or p.name in sent]
    assert client.get(f"/o/{SCHOOL}/{SLUG}/").status_code == 200  # still serving


def open_named(path: Path, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, path.read_bytes())


# --- accounts ---------------------------------------------------------------------------------------------------


def test_an_invitation_sets_a_password_once():
    from cabinet.accounts import create_account, invitation_link

    user = create_account(Role.SCHOOL, "ARH-003")
    assert not user.has_usable_password()
    link = invitation_link(user, base_url="")
    client = Client()
    form = client.get(link, follow=True)
    assert "Задайте пароль" in text(form)
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "Наставник-2026", "new_password2": "Наставник-2026"}
    )
    assert done.status_code == 302
    logged_in = Client().post("/login/", {"username": "arh-003", "password": "Наставник-2026"})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/"
    assert "больше не действует" in text(Client().get(link, follow=True))


def test_login_is_throttled_after_repeated_failures():
    from cabinet.accounts import create_account

    create_account(Role.SCHOOL, "ARH-004", password=PASSWORD)
    client = Client()
    for _ in range(5):
        client.post("/login/", {"username": "arh-004", "password": "неверно"})
    locked = client.post("/login/", {"username": "arh-004", "password": PASSWORD})
    assert locked.status_code == 429 and "Слишком много неудачных попыток" in text(locked)


def test_errors_are_plain_russian_pages_without_debug_detail():
    client = client_for(Role.SCHOOL, SCHOOL)
    page = client.get("/o/ARH-001/1999-Q1/")
    assert page.status_code == 404 and "Страница не найдена" in text(page) and "Traceback" not in text(page)
    assert Client().get(f"/o/{SCHOOL}/{SLUG}/").status_code == 302  # login first


def test_a_signed_in_person_sent_back_to_the_login_page_goes_home():
    client = client_for(Role.SCHOOL, SCHOOL)
    for url in ("/login/?next=/login/", "/login/?next=/login/%3Fnext%3D/login/", "/login/"):
        response = client.get(url)
        assert response.status_code == 302 and not response["Location"].startswith("/login/"), url


def test_a_decision_takes_only_its_own_fields():
    from cabinet.forms import DecisionForm, InviteForm

    accept = DecisionForm({"kind": "accept", "deadline": "2030-01-01"})
    assert accept.is_valid() and accept.cleaned_data["deadline"] is None
    extend = DecisionForm({"kind": "extend", "deadline": "2030-01-01"})
    assert extend.is_valid() and str(extend.cleaned_data["deadline"]) == "2030-01-01"
    assert not InviteForm({"school_id": SCHOOL, "email": "a" * 250 + "@x.ru"}).is_valid()  # longer than 254


SAMPLE_ARGS = {
    "school_id": SCHOOL,
    "slug": SLUG,
    "upload_id": "00000000-0000-4000-8000-000000000000",
    "kind": "original",
    "code": M,
    "job_id": "1",
    "region": "arkhangelsk_obl",
    "name": "x.xlsx",
    "uidb64": "MQ",
    "token": "x",
    "figure_id": "I01|school|ARH-001|2026-Q4|run",
}


def every_address() -> list[str]:
    """One address of each of the cabinet's pages and actions (Django admin apart), with sample arguments."""
    from django.urls import URLPattern

    from cabinet.urls import urlpatterns

    fill = lambda match: SAMPLE_ARGS[match[1]]  # noqa: E731
    return [
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, str(p.pattern))
        for p in urlpatterns
        if isinstance(p, URLPattern)
    ]


def test_every_address_answers_only_its_methods():
    """No page answers a method it does not serve: DELETE, PUT and PATCH get 405 everywhere, signed in or not,
    and a page that only acts answers GET with 405 too."""
    methodist = client_for(Role.METHODIST, M)
    addresses = every_address()
    assert len(addresses) >= 25
    for url in addresses:
        for client in (Client(), methodist):
            for method in ("delete", "put", "patch"):
                assert getattr(client, method)(url).status_code == 405, (method, url)
    for url in (
        "/o/ARH-001/2026-Q4/upload/",
        "/o/ARH-001/2026-Q4/decide/",
        "/m/arkhangelsk/2026-Q4/consolidate/",
    ):
        assert methodist.get(url).status_code == 405, url


def test_every_page_a_signed_in_person_sees_is_kept_by_no_cache():
    methodist = client_for(Role.METHODIST, M)
    for url in every_address():
        response = methodist.get(url)
        assert "no-store" in response.get("Cache-Control", ""), (url, response.status_code)


def test_the_audit_log_filters_pages_and_exports(tmp_path):
    from cabinet.models import Account

    methodist = client_for(Role.METHODIST, M)
    account = Account.objects.get(user__username=f"metodist-{M}")
    for n in range(120):
        AuditEvent.record(account, f"проверка {n}", municipality=M, school_id=f"ARH-{n % 3:03}", period=SLUG)
    first = text(methodist.get(f"/audit/{M}/"))
    assert "Записи 1–100 из 120" in first and "проверка 119" in first  # newest first, by pages
    found = text(methodist.get(f"/audit/{M}/?q=проверка 7"))
    assert "проверка 7" in found and "проверка 8<" not in found
    export = methodist.get(f"/audit/{M}/?q=ARH-001&export=xlsx")
    assert export["Content-Disposition"].startswith("attachment")
    rows = list(openpyxl.load_workbook(io.BytesIO(body(export))).active.iter_rows(values_only=True))
    assert len([r for r in rows if r[3] and str(r[3]).startswith("проверка")]) == 40  # every match, no cap


def test_the_admin_speaks_russian_and_reaches_every_board():
    admin = client_for(Role.ADMIN, "")
    index = text(admin.get("/admin/"))
    assert "Журнал действий" in index and "Неудачные входы и паузы" in index and "Очередь писем" in index
    assert "Audit events" not in index and "AXES" not in index
    region = text(admin.get("/region/arkhangelsk_obl/"))
    assert f'href="/m/{M}/' in region  # from the regions to each municipality's board
