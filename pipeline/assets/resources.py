"""The Dagster resource every asset gets: the svod workspace and its settings, typed, with environment-backed
values wired in `pipeline.definitions`. Wiring only; no business logic here."""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg

from pipeline.config import Workspace
from pipeline.store.warehouse import DEFAULT_MEMORY


class SvodWorkspace(dg.ConfigurableResource):
    """The workspace folder (inbox, archive, outbox, out, DuckDB file) and the settings it is worked with."""

    home: str
    signing_key: str = ""  # empty: the demo key in a demo workspace, else runs that sign or verify stop
    reference_dir: str = ""  # empty: the bundled sample reference data
    duckdb_memory: str = DEFAULT_MEMORY

    def workspace(self) -> Workspace:
        return Workspace.resolve(
            self.home, self.signing_key or None, self.reference_dir or None, self.duckdb_memory
        )

    @contextmanager
    def connection(self):
        with self.workspace().connect() as con:
            yield con
