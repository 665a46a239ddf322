"""Dagster resources: the svod workspace and its DuckDB warehouse. Wiring only; no business logic here."""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg

from pipeline import warehouse
from pipeline.config import Workspace


class SvodWorkspace(dg.ConfigurableResource):
    """The workspace folder (inbox, archive, outbox, out, DuckDB file)."""

    home: str = dg.EnvVar("SVOD_HOME")

    def workspace(self) -> Workspace:
        return Workspace.resolve(self.home)

    @contextmanager
    def connection(self):
        with warehouse.connect(self.workspace().database) as con:
            yield con
