"""Starting Django for the cabinet from svod's commands (serve, users, demo, the worker): the workspace, the
settings made for it (`cabinet.settings.of_workspace`), and the cabinet's database brought up to date. Writes no
environment variable."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Workspace, prepare_cabinet


def start(home: str | Path | None = None, migrate: bool = True) -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    from cabinet.settings import of_workspace

    ws = Workspace.resolve(home)
    prepare_cabinet(ws.home)
    if not settings.configured:
        settings.configure(**of_workspace(ws))
    django.setup()
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)
