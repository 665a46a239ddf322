"""Helpers for the cabinet's tests: accounts, a school's template fetched through the cabinet and filled by the
fake school, and handing it in as a browser form would."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cabinet.accounts import create_account
from cabinet.models import Role, Upload
from samples.fake_school import fill, make_mistake, school_data

PASSWORD = "Проверка-2026"


def client_for(role: Role, organisation: str = "", **kwargs) -> Client:
    """A client logged in as the account of this organisation (created if needed)."""
    user = create_account(role, organisation, password=PASSWORD)
    client = Client(**kwargs)
    client.force_login(user)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def template_of(client: Client, school: str, slug: str, folder: Path) -> Path:
    response = client.get(f"/o/{school}/{slug}/template/")
    assert response.status_code == 200, response.status_code
    path = folder / f"template_{school}_{slug}.xlsx"
    path.write_bytes(body(response))
    return path


def filled(template: Path, out: Path, mistake: str | None = None, seed: int = 7, size: str = "small") -> Path:
    data = school_data(template, seed, size, date.today())
    if mistake:
        make_mistake(data, mistake)
    return fill(template, out, data)


def hand_in(client: Client, school: str, slug: str, path: Path, name: str | None = None) -> Upload:
    """Upload a file; returns the upload the cabinet recorded (the answer page it redirects to)."""
    response = client.post(
        f"/o/{school}/{slug}/upload/", {"file": SimpleUploadedFile(name or path.name, path.read_bytes())}
    )
    assert response.status_code == 302, (response.status_code, response.content[:500])
    return Upload.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
