"""Running svod's servers in tests: a free port, waiting for a condition, whether a server answers, whether a
process group is still alive."""

from __future__ import annotations

import os
import socket
import time

import requests


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
