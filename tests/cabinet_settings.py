"""The cabinet's settings for tests: one temporary workspace for the session (its warehouse, archive and
answers), the demo signing key, and the test database in a file there, so the live server and test threads
share it."""

import os
import tempfile

os.environ["SVOD_HOME"] = tempfile.mkdtemp(prefix="svod-cabinet-")
os.environ.setdefault("SVOD_SIGNING_KEY", "svod-demo-signing-key")

from pipeline.config import Workspace, prepare_cabinet  # noqa: E402

prepare_cabinet(Workspace.resolve().home)  # what `svod serve` does before Django starts
from cabinet.served_settings import *  # noqa: E402,F403

DATABASES["default"]["TEST"] = {"NAME": str(WORKSPACE.home / "cabinet" / "test.sqlite3")}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests only
