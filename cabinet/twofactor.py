"""A second factor for staff: a methodist, a region and an administrator can return and approve every report of
their territory, so after the password they give a one-time code from an authenticator app on their phone
(django-otp's TOTP devices: Яндекс Ключ, Google Authenticator and the like). Schools sign in with the password
alone. On by default when the cabinet is served over https (`STAFF_TWO_FACTOR`, SVOD_STAFF_TWO_FACTOR).

The first time, the page shows a QR code (and the key, for typing) to add the account to the app, and the first
right code confirms the device. A lost phone: an administrator removes the device (`svod users second-factor
--username …`, or Django's admin), and the next sign-in sets up a new one. Wrong codes are slowed by django-otp
(each failure doubles the wait).
"""

from __future__ import annotations

from urllib.parse import quote

import segno
from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from cabinet.limits import client_address
from cabinet.models import Account, AuditEvent, Role

STAFF_ROLES = (Role.METHODIST, Role.REGION, Role.ADMIN)
OPEN_PATHS = ("/2fa/", "/logout/", "/static/", "/health/")  # reachable before the second factor


def needs_second_factor(request) -> bool:
    user = request.user
    if not settings.STAFF_TWO_FACTOR or not user.is_authenticated or user.is_verified():
        return False
    account = Account.objects.filter(user=user).first()
    return user.is_superuser or (account is not None and account.role in STAFF_ROLES)


class StaffSecondFactor:
    """Sends a signed-in staff account that has not given its code this session to the code page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(OPEN_PATHS) and needs_second_factor(request):
            return redirect(f"{reverse('second_factor')}?next={quote(request.get_full_path())}")
        return self.get_response(request)


@require_http_methods(["GET", "HEAD", "POST"])
def second_factor(request):
    if not request.user.is_authenticated:
        return redirect("login")
    target = request.POST.get("next") or request.GET.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("home")
    if not needs_second_factor(request):
        return redirect(target)
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    device = (
        device
        or TOTPDevice.objects.get_or_create(user=request.user, confirmed=False, defaults={"name": "svod"})[0]
    )
    error = None
    if request.method == "POST":
        allowed, _ = device.verify_is_allowed()
        code = "".join(request.POST.get("code", "").split())
        if allowed and device.verify_token(code):
            if not device.confirmed:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                account = Account.objects.filter(user=request.user).first()
                if account:
                    AuditEvent.record(
                        account, "подключён второй фактор входа", address=client_address(request)
                    )
            otp_login(request, device)
            return redirect(target)
        error = (
            "Код не подошёл. Введите шесть цифр, которые приложение показывает сейчас."
            if allowed
            else "Слишком много неверных кодов подряд: подождите минуту и введите новый код."
        )
    return render(
        request,
        "registration/second_factor.html",
        {
            "setting_up": not device.confirmed,
            "qr": None if device.confirmed else segno.make(device.config_url).svg_inline(scale=4),
            "key": None if device.confirmed else " ".join(_key(device)),
            "next": target,
            "error": error,
        },
        status=400 if error else 200,
    )


def _key(device: TOTPDevice) -> list[str]:
    """The device's key in base32, in groups of four, for typing into an app."""
    from base64 import b32encode

    text = b32encode(device.bin_key).decode()
    return [text[i : i + 4] for i in range(0, len(text), 4)]
