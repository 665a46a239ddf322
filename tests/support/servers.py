"""Running svod's servers in tests: a free port, waiting for a condition, whether a server answers, whether a
process group is still alive, its processes by command, the cabinet's accounts made and a signed-in session."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import requests

from tests.support.cabinet import PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what: str, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def answering(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except (requests.ConnectionError, requests.Timeout):  # not listening yet, or listening but still starting
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


_ACCOUNTS = """
from cabinet.setup import start
start({home!r})
from cabinet.accounts import create_account
from cabinet.models import Role
for school in {schools!r}:
    create_account(Role.SCHOOL, school, password={password!r})
create_account(Role.METHODIST, {municipality!r}, password={password!r})
"""


def processes(pgid: int, command: bytes) -> list[int]:
    """The live processes of the server's group whose command line holds `command`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getpgid(int(proc.name)) == pgid:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if command in (proc / "cmdline").read_bytes() and stat[0] != "Z":
                    found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def accounts_script(home: Path, schools: list[str], municipality: str = "arkhangelsk") -> str:
    """Python that makes the schools' accounts and the municipality's methodist in a workspace's cabinet."""
    return _ACCOUNTS.format(home=str(home), schools=schools, password=PASSWORD, municipality=municipality)


def logged_in(base: str, school: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=30)
    session.post(
        f"{base}/login/",
        data={
            "username": school.lower(),
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/login/"},
        timeout=30,
    ).raise_for_status()
    return session


def uploaded(
    session: requests.Session, base: str, school: str, slug: str, workbook: Path
) -> requests.Response:
    """A signed-in school's workbook through the cabinet's upload form; the answer as it came."""
    with workbook.open("rb") as f:
        return session.post(
            f"{base}/o/{school}/{slug}/upload/",
            files={"file": (workbook.name, f)},
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{base}/o/{school}/{slug}/"},
            timeout=60,
        )
