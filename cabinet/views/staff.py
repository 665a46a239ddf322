"""Staff pages: the methodist's completeness board and decisions, consolidation and its progress, the summary,
the audit log and the schools' accounts; the region's coverage of its municipalities and its summary. A
methodist works only with its municipality, a region sees aggregates of its municipalities only."""

from __future__ import annotations

import io
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cabinet import engine, notices, runs
from cabinet.access import (
    municipalities_for,
    period_of,
    period_slug,
    roles,
    school_for,
    staff_municipality,
)
from cabinet.accounts import create_account, invitation_link, schools_with_accounts
from cabinet.forms import ContactForm, DecisionForm, InviteForm
from cabinet.limits import client_address
from cabinet.models import (
    AuditEvent,
    Decision,
    DecisionKind,
    Job,
    JobKind,
    Notice,
    Role,
    SchoolContact,
)
from cabinet.workflow import board, current_period, problems_first, school_state, totals
from pipeline.domain.vocabulary import Status
from pipeline.intake import decisions
from pipeline.intake.decisions import StaffDecision
from pipeline.xlsx.plain_book import write_plain_book
from pipeline.xlsx.summary_layout import municipal_paths, regional_files

STAFF = (Role.METHODIST, Role.ADMIN)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOARD_PAGE_ROWS = 50  # ОО per page of the board; filters, search and totals span every page


@require_safe
@roles(Role.METHODIST, Role.REGION, Role.ADMIN)
def staff_home(request, account):
    if account.role == Role.METHODIST:
        m = staff_municipality(account, account.organisation)
        return redirect("board", m.code, period_slug(current_period(m).code))
    regions = sorted({m.region for m in municipalities_for(account)})
    if account.role == Role.REGION or len(regions) == 1:
        return redirect("region", regions[0])
    return render(
        request,
        "cabinet/regions.html",
        {"regions": [(r, settings.WORKSPACE.reference.regions[r]) for r in regions]},
    )


def summary_file(m, period) -> tuple[Path, datetime] | None:
    path = municipal_paths(engine.workspace().out, m.code, period.code, "")[0]
    return (path, datetime.fromtimestamp(path.stat().st_mtime)) if path.exists() else None


def last_job(kind: JobKind, **where) -> Job | None:
    job = Job.objects.filter(kind=kind, **where).order_by("-requested_at", "-id").first()
    return runs.refresh(job) if job else None


@require_safe
@roles(*STAFF)
def board_page(request, account, code, slug):
    m = staff_municipality(account, code)
    period = period_of(m, slug)
    states = board(m, period)
    counts = totals(states)
    shown = states
    if request.GET.get("status") in set(Status):
        shown = [s for s in shown if s.status == request.GET["status"]]
    if request.GET.get("late"):
        shown = [s for s in shown if s.late and s.status != Status.APPROVED]
    if found := request.GET.get("q", "").strip().casefold():
        shown = [s for s in shown if found in s.school.name.casefold() or found in s.school.id.casefold()]
    if request.GET.get("order") == "problems":
        shown = problems_first(shown)
    page = Paginator(shown, BOARD_PAGE_ROWS).get_page(request.GET.get("page"))
    letters = {
        n.school_id: n
        for n in Notice.objects.filter(
            municipality=m.code, period=period.code, school_id__in=[s.school.id for s in page]
        )
    }
    for s in page:
        s.last_notice = letters.get(s.school.id)
        s.addresses = [] if s.done else notices.school_addresses(s.school)  # whom to chase
    return render(
        request,
        "cabinet/board.html",
        {
            "m": m,
            "period": period,
            "slug": slug,
            "states": page,
            "page": page,
            "totals": counts,
            "statuses": {s.value: s.ru for s in Status},
            "mail_configured": settings.MAIL_CONFIGURED,
            "filters": request.GET,
            "summary": summary_file(m, period),
            "periods": m.periods,
            "job": last_job(JobKind.CONSOLIDATE, municipality=m.code, period=period.code),
        },
    )


BOARD_COLUMNS = [
    "Код ОО",
    "ОО",
    "Статус",
    "Причина",
    "Срок",
    "В срок",
    "Ошибок",
    "Предупреждений",
    "Пояснений",
    "Последняя версия",
]


@require_safe
@roles(*STAFF)
def board_export(request, account, code, slug):
    m = staff_municipality(account, code)
    period = period_of(m, slug)
    rows = [
        ("title", [f"{m.name}: сдача отчётов о наставничестве за период {period.code}"]),
        ("plain", [f"Выгружено {timezone.localtime():%d.%m.%Y %H:%M}"]),
        ("head", BOARD_COLUMNS),
    ]
    for s in problems_first(board(m, period)):
        latest = s.latest
        rows.append(
            (
                "plain",
                [
                    s.school.id,
                    s.school.name,
                    s.status_ru,
                    s.reason,
                    f"{s.deadline:%d.%m.%Y}",
                    "нет" if s.late else "да",
                    latest.errors if latest else "",
                    latest.warnings if latest else "",
                    s.justified or "",
                    f"{timezone.localtime(latest.received_at):%d.%m.%Y %H:%M}" if latest else "",
                ],
            )
        )
    return xlsx_download(
        rows, "Сдача отчётов", [10, 45, 24, 50, 11, 8, 8, 14, 10, 16], f"сдача_отчётов_{m.code}_{slug}.xlsx"
    )


def xlsx_download(rows: list, sheet: str, widths: list[int], filename: str) -> FileResponse:
    """A plain workbook of `rows` (`write_plain_book`) as a download."""
    with tempfile.TemporaryDirectory() as tmp:
        data = write_plain_book(Path(tmp) / "book.xlsx", sheet, rows, widths).read_bytes()
    return FileResponse(  # a file object: FileResponse names it (Content-Disposition) and sizes it
        io.BytesIO(data), as_attachment=True, filename=filename, content_type=XLSX_TYPE
    )


@require_POST
@roles(*STAFF)
def decide(request, account, school_id, slug):
    m, school = school_for(account, school_id)
    period = period_of(m, slug)
    form = DecisionForm(request.POST)
    state = school_state(m, school, period)
    refusal = None
    if form.is_valid():
        kind = form.cleaned_data["kind"]
        refusal = refused(kind, state, form.cleaned_data.get("deadline"))
    if not form.is_valid() or refusal:
        messages.error(request, refusal or " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("return", school.id, slug)
    what, handed = make_decision(
        request, account, m, state, kind, form.cleaned_data["reason"], form.cleaned_data.get("deadline")
    )
    if handed:
        follow_decisions(request.user, m, period)
    messages.success(request, f"Решение записано: {what}.")
    return redirect("return", school.id, slug)


@require_POST
@roles(*STAFF)
def approve_chosen(request, account, code, slug):
    """Approve the chosen ОО of the board at once: each as if approved on its own page (refused ones are named)."""
    m = staff_municipality(account, code)
    period = period_of(m, slug)
    approved, refusals = [], []
    for school_id in dict.fromkeys(request.POST.getlist("school")):
        school = m.school(school_id)
        if school is None:
            continue
        state = school_state(m, school, period)
        if refusal := refused(DecisionKind.APPROVE, state, None):
            refusals.append(f"{school.short_name}: {refusal}")
            continue
        make_decision(request, account, m, state, DecisionKind.APPROVE)
        approved.append(school.id)
    if approved:
        follow_decisions(request.user, m, period)
        messages.success(request, f"Утверждено отчётов: {len(approved)}.")
    if refusals:
        messages.error(request, "Не утверждены: " + "; ".join(refusals))
    if not approved and not refusals:
        messages.error(request, "Отметьте ОО, отчёты которых нужно утвердить.")
    return redirect("board", m.code, slug)


def follow_decisions(user, m, period) -> None:
    """The warehouse follows staff decisions by the partition's next consolidation: asked for now."""
    runs.ask(user, kind=JobKind.CONSOLIDATE, municipality=m.code, region=m.region, period=period.code)


def make_decision(request, account, m, state, kind, reason: str = "", deadline=None) -> tuple[str, bool]:
    """Record a decision on one return (checked by `refused`): its audit event, its notice to the ОО, and its
    file for the warehouse. Returns (the decision in words, whether the warehouse needs a run to follow)."""
    school, period = state.school, state.period
    undone = kind == DecisionKind.ACCEPT and state.return_undoable
    decision = Decision.objects.create(
        school_id=school.id,
        period=period.code,
        upload=state.latest.upload if state.latest else None,
        kind=kind,
        reason=reason.strip(),
        deadline=new_deadline(kind, state, deadline),
        made_by=request.user,
    )
    what = ("отмена возврата" if undone else decision.get_kind_display()) + (
        f", новый срок {decision.deadline:%d.%m.%Y}" if decision.deadline else ""
    )
    AuditEvent.record(
        account,
        f"решение: {what}",
        municipality=m.code,
        school_id=school.id,
        period=period.code,
        reason=decision.reason,
        address=client_address(request),
    )
    if kind == DecisionKind.RETURN:
        notices.returned(decision).record()
    if kind == DecisionKind.EXTEND:
        notices.extended(decision).record()
    if undone:
        notices.return_undone(decision).record()
    handed = decisions.request(
        settings.WORKSPACE,
        StaffDecision(
            kind=kind,
            school_id=school.id,
            municipality=m.code,
            period=period.code,
            made_at=decision.made_at,
            made_by=request.user.get_username(),
            reason=decision.reason,
            sha256=state.latest.sha256 if state.latest else None,
        ),
    )
    return what, handed is not None


def new_deadline(kind: str, state, given):
    """The deadline a decision sets: an extension's, or a return's (given, or RETURN_DAYS from today when the
    deadline has passed, so the school is not left late with nothing to aim for)."""
    if kind != DecisionKind.RETURN or given:
        return given
    today = timezone.localdate()
    return today + timedelta(days=settings.RETURN_DAYS) if state.deadline < today else None


def refused(kind: str, state, deadline) -> str | None:
    """Why a decision cannot be made on a return as it stands (None: it can)."""
    accepted = state.done
    if kind in (DecisionKind.ACCEPT, DecisionKind.RETURN) and state.latest is None:
        return "Отчёт ещё не сдан: решать пока нечего."
    if kind == DecisionKind.ACCEPT and not (accepted or state.return_undoable):
        return "Принять можно только отчёт без ошибок."
    if kind == DecisionKind.RETURN and deadline and deadline <= timezone.localdate():
        return "Новый срок после возврата должен быть позже сегодняшнего дня."
    if kind == DecisionKind.RETURN and state.status == Status.APPROVED:
        return "Отчёт утверждён: чтобы вернуть его, сначала снимите утверждение."
    if kind == DecisionKind.APPROVE and (not accepted or state.status == Status.APPROVED):
        return "Утвердить можно только принятый и ещё не утверждённый отчёт."
    if kind == DecisionKind.UNAPPROVE and state.status != Status.APPROVED:
        return "Отчёт не утверждён."
    if kind == DecisionKind.EXTEND and deadline <= state.deadline:
        return f"Новый срок должен быть позже нынешнего ({state.deadline:%d.%m.%Y})."
    return None


@require_POST
@roles(*STAFF)
def contacts(request, account, school_id, slug):
    m, school = school_for(account, school_id)
    form = ContactForm(request.POST)
    if form.is_valid():
        SchoolContact.objects.update_or_create(
            school_id=school.id, defaults={**form.cleaned_data, "changed_by": request.user}
        )
        AuditEvent.record(
            account,
            "изменены адреса ОО",
            municipality=m.code,
            school_id=school.id,
            reason=f"{form.cleaned_data['email']}, {form.cleaned_data['curator_email']}",
            address=client_address(request),
        )
        messages.success(request, "Адреса ОО сохранены: уведомления пойдут на них.")
    else:
        messages.error(request, "Адреса не сохранены: проверьте, что оба — адреса электронной почты.")
    return redirect("return", school.id, slug)


@require_POST
@roles(*STAFF)
def remind(request, account, code, slug):
    """«Напомнить всем, кто не сдал» (or «Напомнить отмеченным»: the ОО chosen on the board): a notice to each ОО
    of the period without an accepted return (once a day)."""
    m = staff_municipality(account, code)
    period = period_of(m, slug)
    chosen = set(request.POST.getlist("school")) or None
    sent = notices.remind_all(m, period, timezone.localdate(), chosen)
    whom = "отмеченным" if chosen else "всем, кто не сдал"
    AuditEvent.record(
        account,
        f"напоминание {whom}: {sent}",
        municipality=m.code,
        period=period.code,
        address=client_address(request),
    )
    messages.success(
        request,
        f"Напоминания поставлены в очередь писем: {sent}."
        if sent
        else "Новых напоминаний нет: сегодня они уже отправлены, или все отчёты приняты.",
    )
    return redirect("board", m.code, slug)


@require_POST
@roles(*STAFF)
def consolidate(request, account, code, slug):
    m = staff_municipality(account, code)
    period = period_of(m, slug)
    job = ask_for_run(
        request,
        account,
        "запущен свод муниципалитета",
        kind=JobKind.CONSOLIDATE,
        municipality=m.code,
        region=m.region,
        period=period.code,
    )
    return (
        render(request, "cabinet/job.html", {"job": job}) if request.htmx else redirect("board", m.code, slug)
    )


def ask_for_run(request, account, action: str, **scope) -> Job:
    """The run of this kind and scope still waiting or running, else a new one asked of Dagster (recorded in
    the audit log)."""
    job, new = runs.ask(request.user, **scope)
    if new:
        AuditEvent.record(
            account,
            action,
            municipality=scope.get("municipality", ""),
            period=scope.get("period", ""),
            address=client_address(request),
        )
    return job


def job_scope(account, job: Job) -> None:
    """A job is seen by the staff of its municipality, or of its region for a regional one."""
    if job.kind == JobKind.REGIONAL:
        if account.role not in (Role.REGION, Role.ADMIN) or job.region not in {
            m.region for m in municipalities_for(account)
        }:
            raise Http404("нет такого запуска")
    else:
        staff_municipality(account, job.municipality)


@require_safe
@roles(Role.METHODIST, Role.REGION, Role.ADMIN)
def job_status(request, account, job_id):
    job = get_object_or_404(Job, pk=job_id)
    job_scope(account, job)
    return render(request, "cabinet/job.html", {"job": runs.refresh(job)})


@require_safe
@roles(*STAFF)
def summary_download(request, account, code, slug):
    m = staff_municipality(account, code)
    found = summary_file(m, period_of(m, slug))
    if found is None:
        raise Http404("сводка ещё не выпущена")
    return FileResponse(found[0].open("rb"), as_attachment=True, filename=found[0].name)


AUDIT_PAGE_ROWS = 100
AUDIT_COLUMNS = ["Когда", "Кто", "Роль", "Действие", "ОО", "Период", "Причина", "Адрес"]


@require_safe
@roles(*STAFF)
def audit_page(request, account, code):
    """The municipality's audit log, newest first, filtered by words (who, what, why, which ОО) and period; the
    whole filtered log as a workbook with `?export=xlsx`."""
    m = staff_municipality(account, code)
    events = AuditEvent.objects.filter(municipality=m.code)
    if words := request.GET.get("q", "").strip():
        events = events.filter(
            Q(actor__icontains=words)
            | Q(action__icontains=words)
            | Q(reason__icontains=words)
            | Q(school_id__icontains=words)
        )
    if period := request.GET.get("period", "").strip():
        events = events.filter(period=period)
    if request.GET.get("export") == "xlsx":
        rows = [("title", [f"{m.name}: журнал действий"]), ("head", AUDIT_COLUMNS)] + [
            (
                "plain",
                [
                    f"{timezone.localtime(e.at):%d.%m.%Y %H:%M:%S}",
                    e.actor,
                    e.get_role_display(),
                    e.action,
                    e.school_id,
                    e.period,
                    e.reason,
                    e.address,
                ],
            )
            for e in events
        ]
        return xlsx_download(rows, "Журнал", [18, 22, 14, 40, 10, 10, 50, 16], f"журнал_{m.code}.xlsx")
    page = Paginator(events, AUDIT_PAGE_ROWS).get_page(request.GET.get("page"))
    return render(
        request,
        "cabinet/audit.html",
        {"m": m, "events": page, "page": page, "filters": request.GET, "periods": m.periods},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@roles(*STAFF)
def users_page(request, account, code):
    """The ОО's accounts. An ОО without an account gets one and its invitation link; an account not yet set up
    gets a new link; an account in use never gets a link here: a new one goes to its address on record only, so
    nobody but the ОО can set its password."""
    m = staff_municipality(account, code)
    link = None
    if request.method == "POST":
        form = InviteForm(request.POST)
        school = m.school(form.data.get("school_id", ""))
        if form.is_valid() and school:
            link = invite(request, account, m, school, form.cleaned_data["email"])
    accounts = schools_with_accounts(m.code)
    return render(
        request,
        "cabinet/users.html",
        {"m": m, "rows": [(s, accounts.get(s.id)) for s in m.schools], "link": link},
    )


@require_POST
@roles(*STAFF)
def invite_all(request, account, code):
    """«Пригласить все ОО без учётной записи»: an account for each, its invitation mailed to the ОО's address
    (the methodist's correction, else the registry's); ОО with no address are named, to be invited one by one."""
    m = staff_municipality(account, code)
    accounts = schools_with_accounts(m.code)
    invited, no_address = 0, []
    for school in m.schools:
        if school.id in accounts:
            continue
        addresses = notices.school_addresses(school)
        if not addresses:
            no_address.append(school.id)
            continue
        invite(request, account, m, school, addresses[0])
        invited += 1
    messages.success(request, f"Приглашения поставлены в очередь писем: {invited}.")
    if no_address:
        messages.error(request, "Нет адреса, пригласите по одной, указав почту: " + ", ".join(no_address))
    return redirect("users", m.code)


def invite(request, account, m, school, email: str) -> tuple[str, str] | None:
    """Invite an ОО (see `users_page`); the link to show, if any."""
    user = schools_with_accounts(m.code).get(school.id)
    if user is not None and user.has_usable_password():
        if not user.email:
            messages.error(
                request, f"У учётной записи {user.get_username()} нет адреса: сначала укажите его."
            )
            return None
        notices.invitation(user, m, school, again=True).record()
        AuditEvent.record(
            account,
            "повторное приглашение на адрес учётной записи",
            municipality=m.code,
            school_id=school.id,
            address=client_address(request),
        )
        messages.success(request, f"Ссылка для нового пароля отправлена на {user.email}.")
        return None
    if user is not None and email and user.email and email != user.email:
        messages.error(request, "Адрес учётной записи меняют отдельно: кнопкой «Сменить адрес».")
        return None
    user = user or create_account(Role.SCHOOL, school.id, email=email)
    if email and not user.email:
        user.email = email
        user.save(update_fields=["email"])
    if user.email:
        notices.invitation(user, m, school).record()
    AuditEvent.record(
        account,
        "выдано приглашение",
        municipality=m.code,
        school_id=school.id,
        address=client_address(request),
    )
    return school.id, invitation_link(user)


@require_POST
@roles(*STAFF)
def account_address(request, account, code):
    """Change an ОО account's e-mail address: its own audited action, of which both addresses are told."""
    m = staff_municipality(account, code)
    form = InviteForm(request.POST)
    school = m.school(form.data.get("school_id", ""))
    user = schools_with_accounts(m.code).get(school.id) if school else None
    if user is None:
        raise Http404("нет такой учётной записи")
    if not form.is_valid() or not form.cleaned_data["email"]:
        messages.error(request, "Адрес не изменён: укажите адрес электронной почты.")
        return redirect("users", m.code)
    old, new = user.email, form.cleaned_data["email"]
    if old != new:
        user.email = new
        user.save(update_fields=["email"])
        notices.address_changed(user, m, school, old).record()
        AuditEvent.record(
            account,
            "изменён адрес учётной записи ОО",
            municipality=m.code,
            school_id=school.id,
            reason=f"{old or 'не было'} → {new}",
            address=client_address(request),
        )
    messages.success(request, f"Адрес учётной записи {user.get_username()}: {new}.")
    return redirect("users", m.code)


@require_safe
@roles(Role.REGION, Role.ADMIN)
def region_page(request, account, region):
    munis = [m for m in municipalities_for(account) if m.region == region]
    if not munis:
        raise Http404("нет такого региона")
    rows = []
    for m in munis:
        period = current_period(m)
        counts = totals(board(m, period))
        rows.append({"m": m, "period": period, "totals": counts, "summary": summary_file(m, period)})
    files = regional_files(engine.workspace().out, region)
    return render(
        request,
        "cabinet/region.html",
        {
            "region": region,
            "region_name": settings.WORKSPACE.reference.regions[region],
            "rows": rows,
            "files": [(f.name, datetime.fromtimestamp(f.stat().st_mtime)) for f in files],
            "job": last_job(JobKind.REGIONAL, region=region),
        },
    )


@require_POST
@roles(Role.REGION, Role.ADMIN)
def regional_consolidate(request, account, region):
    if region not in {m.region for m in municipalities_for(account)}:
        raise Http404("нет такого региона")
    job = ask_for_run(
        request, account, f"запущен свод региона {region}", kind=JobKind.REGIONAL, region=region
    )
    return render(request, "cabinet/job.html", {"job": job}) if request.htmx else redirect("region", region)


@require_safe
@roles(Role.REGION, Role.ADMIN)
def regional_download(request, account, region, name):
    if region not in {m.region for m in municipalities_for(account)}:
        raise Http404("нет такого региона")
    path = next((f for f in regional_files(engine.workspace().out, region) if f.name == name), None)
    if path is None:
        raise Http404("нет такой сводки")
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)
