"""The `svod` command line: a thin Russian-speaking shell over the same code the Dagster assets run.

This module holds what every command shares (the app, options, the staff-error handling); the commands are in
`work` (issuing, checking, consolidating, approving) and `records` (lineage, re-issue, rebuild, reliability).
Commands that change the warehouse materialize the assets in-process (`pipeline.runner`), so a CLI run and a UI
run are the same run and both show up in the Dagster UI's history. Staff errors (no signing key, a busy
warehouse, a failed run) end with a Russian message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from pipeline import runner
from pipeline.config import NoSigningKey
from pipeline.defs.stale_runs import PoolBusy
from pipeline.store.warehouse import WarehouseBusy

app = typer.Typer(help="svod — мониторинг наставничества в ОО через книги Excel.", no_args_is_help=True,
                  add_completion=False)
console = Console()
HOME = typer.Option(None, "--home", help="Рабочая папка svod (по умолчанию $SVOD_HOME или ./svod_home).")
SCHOOL = typer.Option(..., help="Код ОО, например ARH-001.")
PERIOD = typer.Option(..., help="Код периода, например 2025-Q4 или 2024/2025.")
AS_JSON = typer.Option(False, "--json", help="Вывести в JSON.")


def command(fn):
    """A CLI command whose staff errors end with a Russian message: exit 2 for wrong input, 1 for a failed run."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NoSigningKey, WarehouseBusy, PoolBusy) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        except runner.RunFailed as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    return app.command()(run)


from pipeline.cli import records, work  # noqa: E402,F401 — the commands register themselves on `app`
