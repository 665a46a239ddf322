"""Starting Django for the cabinet from svod's commands (serve, users, demo, the worker): the workspace, the
settings, and the cabinet's database brought up to date."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.config import ENVIRONMENT, Workspace


def start(home: str | Path | None = None, migrate: bool = True) -> None:
    import django
    from django.core.management import call_command

    os.environ[ENVIRONMENT["home"]] = str(Workspace.locate(home))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cabinet.settings")
    django.setup()
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)
