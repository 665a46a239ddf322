"""Accounts from the school registry: one per ОО, one per municipality's methodist, one per region, and
administrators. A new account has no password; its one-time invitation link (Django's password-reset token,
spent once a password is set) lets the person choose one. Passwords are hashed by Django.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from cabinet.models import Account, Role


class UnknownOrganisation(ValueError):
    """An organisation code that is not in the registry for the role; the message is for staff."""


def default_username(role: Role, organisation: str) -> str:
    return {
        Role.SCHOOL: organisation.lower(),
        Role.METHODIST: f"metodist-{organisation}",
        Role.REGION: f"region-{organisation}",
        Role.ADMIN: organisation or "admin",
    }[role]


def check_organisation(role: Role, organisation: str) -> None:
    ref = settings.WORKSPACE.reference
    known = {
        Role.SCHOOL: ref.school_home(organisation) is not None,
        Role.METHODIST: organisation in ref.municipalities,
        Role.REGION: organisation in ref.regions,
        Role.ADMIN: True,
    }[role]
    if not known:
        what = {Role.SCHOOL: "ОО", Role.METHODIST: "муниципалитета", Role.REGION: "региона"}[role]
        raise UnknownOrganisation(f"Кода {what} «{organisation}» нет в реестре.")


@transaction.atomic
def create_account(
    role: Role,
    organisation: str = "",
    username: str | None = None,
    email: str = "",
    password: str | None = None,
):
    """An account for an organisation of the registry (or the existing one); without a password it waits for its
    invitation to be used."""
    check_organisation(role, organisation)
    user, created = get_user_model().objects.get_or_create(
        username=username or default_username(role, organisation), defaults={"email": email}
    )
    if password:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.email = email or user.email
    user.save()
    Account.objects.update_or_create(user=user, defaults={"role": role, "organisation": organisation})
    return user


def invitation_link(user, base_url: str | None = None) -> str:
    """The one-time link that lets the person set a password (valid PASSWORD_RESET_TIMEOUT)."""
    from django.conf import settings

    base = settings.PUBLIC_URL if base_url is None else base_url
    path = reverse(
        "invite", args=[urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)]
    )
    return f"{base}{path}"


def schools_with_accounts(municipality: str) -> dict[str, object]:
    """school id -> its account's user, for the ОО of a municipality that have one."""
    ids = [s.id for s in settings.WORKSPACE.reference.municipalities[municipality].schools]
    return {
        a.organisation: a.user
        for a in Account.objects.select_related("user").filter(role=Role.SCHOOL, organisation__in=ids)
    }


DEMO_PASSWORD = "svod-demo-2026"  # only in workspaces made by `svod demo`
DEMO_ACCOUNTS = (
    (Role.SCHOOL, "ARH-001", "Школа"),
    (Role.METHODIST, "arkhangelsk", "Методист"),
    (Role.REGION, "arkhangelsk_obl", "Регион"),
    (Role.ADMIN, "", "Администратор"),
)


def demo_accounts() -> list[tuple[str, str]]:
    """The demo's accounts (a school, its methodist, its region, an administrator): (who, username)."""
    return [
        (who, create_account(role, org, password=DEMO_PASSWORD).get_username())
        for role, org, who in DEMO_ACCOUNTS
    ]
