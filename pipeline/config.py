"""svod's settings: where a workspace keeps its files, the key it signs with, the reference data it uses and how
much memory DuckDB may take. The one place that reads svod's environment variables.

A workspace (`--home DIR`, else SVOD_HOME, else ./svod_home) holds the inbox staff drop returns into, the
content-addressed archive, the outbox of answers to schools, published summaries and the DuckDB warehouse.
Templates and summaries are signed with SVOD_SIGNING_KEY; there is no default key, except in a workspace made
by `svod demo` (marked by a file), which uses the published demo key. (The reference folder's variable is also read
by `pipeline.reference` itself: the Dagster partitions need it before any workspace exists.)
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from pipeline import reference
from pipeline.store.warehouse import DEFAULT_MEMORY, connect

DEMO_SIGNING_KEY = "svod-demo-signing-key"  # only for workspaces made by `svod demo`, and for tests
DEMO_MARKER = ".svod-demo"
DATABASE = "svod.duckdb"
ENVIRONMENT = {"home": "SVOD_HOME", "signing_key": "SVOD_SIGNING_KEY", "reference_dir": reference.REFERENCE_DIR_VARIABLE,
               "duckdb_memory": "SVOD_DUCKDB_MEMORY"}


class NoSigningKey(RuntimeError):
    """Raised where a key is needed and none is set; the message is for staff."""


def from_environment(name: str) -> str | None:
    """A setting's value from its environment variable (see ENVIRONMENT), or None."""
    return os.environ.get(ENVIRONMENT[name]) or None


class Workspace(BaseModel):
    home: Path
    signing_key: str | None = None
    reference_dir: Path | None = None
    duckdb_memory: str = DEFAULT_MEMORY

    @staticmethod
    def locate(home: str | Path | None = None) -> Path:
        """The workspace folder `home` names (else SVOD_HOME, else ./svod_home), without creating anything."""
        return Path(home or from_environment("home") or "svod_home").resolve()

    @classmethod
    def resolve(cls, home: str | Path | None = None, signing_key: str | None = None,
                reference_dir: str | Path | None = None, duckdb_memory: str | None = None,
                create: bool = True) -> Workspace:
        """The workspace at `home` (its folders made, unless `create` is false); unset settings come from the
        environment."""
        root = cls.locate(home)
        demo_key = DEMO_SIGNING_KEY if (root / DEMO_MARKER).exists() else None
        ws = cls(home=root, signing_key=signing_key or from_environment("signing_key") or demo_key,
                 reference_dir=reference_dir or from_environment("reference_dir"),
                 duckdb_memory=duckdb_memory or from_environment("duckdb_memory") or DEFAULT_MEMORY)
        reference.select(ws.reference_dir)
        for folder in (ws.inbox, ws.archive, ws.outbox, ws.out, ws.templates) if create else ():
            folder.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def key(self) -> str:
        """The signing key; stops with a message for staff when none is set."""
        if not self.signing_key:
            raise NoSigningKey("Не задан ключ подписи шаблонов и сводок. Укажите его в переменной окружения "
                               "SVOD_SIGNING_KEY (один и тот же ключ для выпуска шаблонов и приёма отчётов).")
        return self.signing_key

    def connect(self, read_only: bool = False):
        return connect(self.database, read_only=read_only, memory_limit=self.duckdb_memory)

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
        return self.home / DATABASE
