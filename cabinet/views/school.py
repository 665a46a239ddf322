"""Pages about one school's return: its periods, the return's page (versions, decisions, handing in), the
verdict of an upload with its problems by sheet, justifications, and the downloads. A school opens only its
own; its methodist and administrators open the same pages (`cabinet.access`)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from cabinet import engine, notices
from cabinet.access import period_of, period_slug, roles, school_for, upload_for
from cabinet.forms import ContactForm, JustificationForm, UploadForm
from cabinet.limits import client_address, upload_refusal
from cabinet.models import AuditEvent, Justification, Notice, Role, Upload
from cabinet.uploads import too_large_message
from cabinet.workflow import school_state, school_states
from pipeline.domain.issues import Issue, Severity, by_sheet, counts
from pipeline.domain.versions import changes, issue_key

READERS = (Role.SCHOOL, Role.METHODIST, Role.ADMIN)


def open_periods(m):
    """The municipality's periods whose reporting has begun, newest first."""
    today = timezone.localdate()
    return sorted((p for p in m.periods if p.start <= today), key=lambda p: p.start, reverse=True)


@require_safe
@roles(Role.SCHOOL)
def school_home(request, account):
    """The ОО's periods, the one due now first, and whom to ask: the methodists of its municipality."""
    m, school = school_for(account, account.organisation)
    states = school_states(school, open_periods(m))
    due = due_now(states)
    return render(
        request,
        "cabinet/school_home.html",
        {
            "m": m,
            "school": school,
            "due": due,
            "states": [s for s in states if s is not due],
            "methodists": methodist_addresses(m.code),
        },
    )


def methodist_addresses(municipality: str) -> list[str]:
    """Whom an ОО asks about its report: the e-mail of each active methodist account of its municipality."""
    found = User.objects.filter(
        account__role=Role.METHODIST, account__organisation=municipality, is_active=True
    ).exclude(email="")
    return sorted({u.email for u in found})


def due_now(states: list) -> object | None:
    """The report to hand in now: of those not done, the nearest deadline still ahead, else the latest one
    missed."""
    open_ = [s for s in states if not s.done]
    ahead = sorted((s for s in open_ if s.days_left >= 0), key=lambda s: s.deadline)
    return ahead[0] if ahead else max(open_, key=lambda s: s.deadline, default=None)


def page_context(account, school_id: str, slug: str) -> dict:
    m, school = school_for(account, school_id)
    period = period_of(m, slug)
    state = school_state(m, school, period)
    uploads = list(
        Upload.objects.filter(school_id=school.id, period=period.code).select_related("uploaded_by")
    )
    timeline = sorted(
        [("upload", u.uploaded_at, u) for u in uploads]
        + [("decision", d.made_at, d) for d in state.decisions],
        key=lambda item: item[1],
        reverse=True,
    )
    latest = state.latest.upload if state.latest else None
    addresses = notices.school_addresses(school)
    return {
        "notices": Notice.objects.filter(school_id=school.id, period=period.code).order_by("-created_at"),
        "contact_form": ContactForm(initial={"email": addresses[0], "curator_email": addresses[-1]}),
        "m": m,
        "school": school,
        "period": period,
        "slug": period_slug(period.code),
        "state": state,
        "uploads": uploads,
        "timeline": timeline,
        "latest": latest,
        "latest_groups": problem_groups(latest) if latest else [],
        "annotated": {u.pk for u in uploads if engine.answer_file(u.pk, "annotated")},
        "return_days": settings.RETURN_DAYS,
        "methodists": methodist_addresses(m.code),
    }


@require_safe
@roles(*READERS)
def return_page(request, account, school_id, slug):
    return _return_page(request, account, school_id, slug)


def _return_page(request, account, school_id, slug, upload_form=None, status=200):
    """The return's page, with the upload form as sent back (its errors) after a refused upload."""
    context = page_context(account, school_id, slug)
    context["upload_form"] = upload_form or UploadForm()
    return render(request, "cabinet/return_page.html", context, status=status)


@require_safe
@roles(*READERS)
def template(request, account, school_id, slug):
    m, school = school_for(account, school_id)
    period = period_of(m, slug)
    try:
        path = engine.template_path(m.code, period.code, school.id)
    except engine.WarehouseInUse as exc:
        return render(
            request, "cabinet/message.html", {"title": "Шаблон пока недоступен", "text": str(exc)}, status=503
        )
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@require_POST
@roles(Role.SCHOOL)
def hand_in(request, account, school_id, slug):
    m, school = school_for(account, school_id)
    period = period_of(m, slug)
    form = UploadForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):
        form.errors["file"] = form.error_class([too_large_message()])
    if form.errors or not form.is_valid():
        return _return_page(
            request, account, school_id, slug, upload_form=form, status=200 if request.htmx else 400
        )
    file = form.cleaned_data["file"]
    if refusal := upload_refusal(request.user, school.id, file.size):
        form.errors["file"] = form.error_class([refusal])
        return _return_page(
            request, account, school_id, slug, upload_form=form, status=200 if request.htmx else 429
        )
    data = file.read()
    previous = Upload.objects.filter(school_id=school.id, period=period.code).first()
    upload_id, now = uuid.uuid4(), timezone.now()
    result = engine.hand_in(
        upload_id,
        data,
        file.name,
        school.id,
        period.code,
        timezone.localtime(now).replace(tzinfo=None),
        previous,
    )
    errors = counts(result.issues)[0]
    upload = Upload.objects.create(
        id=upload_id,
        school_id=school.id,
        municipality=m.code,
        period=period.code,
        uploaded_by=request.user,
        uploaded_at=now,
        client_name=engine.display_name(file.name),
        size=len(data),
        sha256=result.sha256,
        verdict=result.verdict,
        errors=errors,
        warnings=len(result.issues) - errors,
        issues=[i.model_dump(mode="json") for i in result.issues],
        rows=result.rows,
        history_checked=result.history_checked,
        forwarded=result.forwarded,
    )
    AuditEvent.record(
        account,
        f"сдан отчёт: {upload.get_verdict_display()}",
        municipality=m.code,
        school_id=school.id,
        period=period.code,
        address=client_address(request),
    )
    draft = notices.upload_receipt(upload)
    if draft:
        draft.record()  # sent by the worker, never inside this request
    target = reverse("upload", args=[upload.pk])
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@require_safe
@roles(*READERS)
def upload_page(request, account, upload_id):
    upload = upload_for(account, upload_id)
    m, school = school_for(account, upload.school_id)
    groups = problem_groups(upload)
    previous = Upload.objects.filter(
        school_id=upload.school_id, period=upload.period, uploaded_at__lt=upload.uploaded_at
    ).first()
    latest = Upload.objects.filter(school_id=upload.school_id, period=upload.period).first()
    return render(
        request,
        "cabinet/upload_page.html",
        {
            "upload": upload,
            "m": m,
            "school": school,
            "groups": groups,
            "slug": period_slug(upload.period),
            "changes": changes(
                previous and engine.version_of(previous),
                [Issue.model_validate(i) for i in upload.issues],
                upload.rows,
            ),
            "is_latest": latest == upload,
            "annotated": engine.answer_file(upload.pk, "annotated") is not None,
            "state": school_state(m, school, period_of(m, upload.period)),
            "justify_form": JustificationForm(),
        },
    )


def problem_groups(upload: Upload) -> list[tuple[str, list]]:
    """An upload's problems by sheet, each with its key and the school's justification (if any)."""
    justified = {j.issue_key: j for j in upload.justifications.select_related("written_by")}
    issues = [Issue.model_validate(i) for i in upload.issues]
    return [
        (title, [(i, key, justified.get(key)) for i in found for key in [issue_key(i)]])
        for title, found in by_sheet(issues)
    ]


DOWNLOADS = {
    "receipt": "квитанция.xlsx",
    "receipt_text": "квитанция.txt",
    "annotated": "с_пометками.xlsx",
    "original": "как_сдан",
}


@require_safe
@roles(*READERS)
def upload_file(request, account, upload_id, kind):
    upload = upload_for(account, upload_id)
    if kind not in DOWNLOADS:
        raise Http404("нет такого файла")
    path = engine.archived(upload.sha256) if kind == "original" else engine.answer_file(upload.pk, kind)
    if path is None:
        raise Http404("нет такого файла")
    number = Upload.objects.filter(
        school_id=upload.school_id, period=upload.period, uploaded_at__lte=upload.uploaded_at
    ).count()
    name = f"{upload.school_id}_{period_slug(upload.period)}_версия{number}_{DOWNLOADS[kind]}"
    if kind == "original":
        name += path.suffix
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)


@require_POST
@roles(Role.SCHOOL)
def justify(request, account, upload_id):
    upload = upload_for(account, upload_id)
    form = JustificationForm(request.POST)
    warnings = {
        issue_key(i) for i in map(Issue.model_validate, upload.issues) if i.severity is Severity.WARNING
    }
    if form.is_valid() and form.cleaned_data["issue_key"] in warnings:
        Justification.objects.update_or_create(
            upload=upload,
            issue_key=form.cleaned_data["issue_key"],
            defaults={"text": form.cleaned_data["text"], "written_by": request.user},
        )
        AuditEvent.record(
            account,
            "пояснение к предупреждению",
            municipality=upload.municipality,
            school_id=upload.school_id,
            period=upload.period,
            reason=form.cleaned_data["text"],
            address=client_address(request),
        )
    return redirect(reverse("upload", args=[upload.pk]) + "#problems")
