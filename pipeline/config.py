"""Where svod keeps its files and which secrets it uses; nothing else.

A workspace (`--home DIR`, else `SVOD_HOME`, else `./svod_home`) holds the inbox staff drop returns into, the
content-addressed archive, the outbox of feedback to schools, published summaries and the DuckDB warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

DEV_SIGNING_KEY = "svod-dev-signing-key"  # for demos and tests only; set SVOD_SIGNING_KEY in production


class Workspace(BaseModel):
    home: Path
    signing_key: str = DEV_SIGNING_KEY

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> Workspace:
        root = Path(home or os.environ.get("SVOD_HOME") or "svod_home").resolve()
        workspace = cls(home=root, signing_key=os.environ.get("SVOD_SIGNING_KEY", DEV_SIGNING_KEY))
        for folder in (workspace.inbox, workspace.archive, workspace.outbox, workspace.out, workspace.templates):
            folder.mkdir(parents=True, exist_ok=True)
        return workspace

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def journal(self) -> Path:
        """Inputs of every published run (JSON per run id), kept with the archive for re-issue and rebuild."""
        return self.archive / "runs"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def out(self) -> Path:
        return self.home / "out"

    @property
    def templates(self) -> Path:
        return self.home / "templates"

    @property
    def database(self) -> Path:
        return self.home / "svod.duckdb"
