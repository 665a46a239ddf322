"""Who may see what, enforced on the server for every object: a school only itself, a methodist only the ОО of
its municipality, a region only the aggregates of its municipalities, an administrator everything. Views get
their objects through these functions; anything out of scope is a 404, so its existence is not disclosed.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse

from cabinet.models import Account, Role, Upload
from pipeline.reference import Municipality, School


def account_of(user) -> Account:
    try:
        return user.account
    except Account.DoesNotExist:
        if user.is_superuser:
            return Account(user=user, role=Role.ADMIN)
        raise Http404("нет учётной записи организации") from None


def municipalities_for(account: Account) -> list[Municipality]:
    """The municipalities whose aggregates the account may see."""
    ref = settings.WORKSPACE.reference
    if account.role == Role.ADMIN:
        return list(ref.municipalities.values())
    if account.role == Role.REGION:
        return ref.municipalities_of(account.organisation)
    if account.role == Role.METHODIST and account.organisation in ref.municipalities:
        return [ref.municipalities[account.organisation]]
    return []


def municipality_for(account: Account, code: str) -> Municipality:
    """A municipality the account may see, else 404."""
    found = next((m for m in municipalities_for(account) if m.code == code), None)
    if found is None:
        raise Http404("нет такого муниципалитета")
    return found


def staff_municipality(account: Account, code: str) -> Municipality:
    """A municipality whose schools (personal data included) the account works with: its methodist or an
    administrator; a region sees aggregates only."""
    if account.role not in (Role.METHODIST, Role.ADMIN):
        raise Http404("нет такого муниципалитета")
    return municipality_for(account, code)


def school_for(account: Account, school_id: str) -> tuple[Municipality, School]:
    """An ОО the account may open, with its municipality, else 404."""
    home = settings.WORKSPACE.reference.school_home(school_id)
    allowed = home is not None and (
        account.role == Role.ADMIN
        or (account.role == Role.METHODIST and home.code == account.organisation)
        or (account.role == Role.SCHOOL and school_id == account.organisation)
    )
    if not allowed:
        raise Http404("нет такой ОО")
    return home, home.school(school_id)


def period_slug(code: str) -> str:
    """A period code as it appears in addresses ("2024/2025" -> "2024-2025")."""
    return code.replace("/", "-")


def period_of(m: Municipality, slug: str):
    """A period of the municipality's calendar named by its code or slug, else 404."""
    found = next((p for p in m.periods if slug in (p.code, period_slug(p.code))), None)
    if found is None:
        raise Http404("нет такого периода")
    return found


def upload_for(account: Account, upload_id) -> Upload:
    """An upload of an ОО the account may open, else 404."""
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None:
        raise Http404("нет такого файла")
    school_for(account, upload.school_id)
    return upload


def roles(*allowed: Role):
    """A view for logged-in users of these roles; the view gets the account after the request."""

    def wrap(view):
        @login_required
        def logged_in(request, *args, **kwargs):
            account = account_of(request.user)
            if account.role not in allowed:
                raise Http404("страница недоступна")
            return view(request, account, *args, **kwargs)

        @functools.wraps(view)
        def run(request, *args, **kwargs):
            if getattr(request, "htmx", False) and not request.user.is_authenticated:
                # a part of a page asked for after the session ended: the page says so (cabinet.js) and keeps
                # its form, rather than being swapped for the login page
                return HttpResponse("Сеанс закончился: войдите снова.", status=401)
            return logged_in(request, *args, **kwargs)

        return run

    return wrap


def role_context(request) -> dict:
    """Templates know the account of the logged-in user (for the menu)."""
    user = getattr(request, "user", None)  # none yet when a request is refused before authentication
    if user is None or not user.is_authenticated:
        return {}
    try:
        return {"account": account_of(user)}
    except Http404:
        return {}
