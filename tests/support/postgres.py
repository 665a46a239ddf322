"""The test PostgreSQL server (SVOD_TEST_POSTGRES, an administrator's postgresql:// address; `.ci/run` starts
Debian's and sets it): the tests that need it, and fresh databases on it."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

ADMIN_URL = os.environ.get("SVOD_TEST_POSTGRES")
NEEDED = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not ADMIN_URL and not os.environ.get("SVOD_REQUIRE_POSTGRES"),
        reason="SVOD_TEST_POSTGRES is not set (no PostgreSQL to test against)",
    ),
]


def fresh_database(name: str, port: int | None = None) -> str:
    """An empty database on the test server; its postgresql:// address (through 127.0.0.1:`port` if given)."""
    import psycopg2

    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True  # databases are created outside transactions
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    parts = urlsplit(ADMIN_URL)
    if port is not None:
        parts = parts._replace(netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}")
    return parts._replace(path=f"/{name}").geturl()


def server_address() -> tuple[str, int]:
    parts = urlsplit(ADMIN_URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432
