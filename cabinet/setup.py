"""Starting Django for the cabinet from svod's commands (serve, users, demo, the worker): the workspace, the
settings, and the cabinet's database brought up to date."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.config import ENVIRONMENT, Workspace, prepare_cabinet


def start(home: str | Path | None = None, migrate: bool = True) -> None:
    import django
    from django.core.management import call_command

    ws = Workspace.resolve(home)
    prepare_cabinet(ws.home)
    os.environ[ENVIRONMENT["home"]] = str(ws.home)  # Django reads its settings module, which reads this
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cabinet.settings")
    django.setup()
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)
