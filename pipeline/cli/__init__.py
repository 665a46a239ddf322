"""The `svod` command line: a thin Russian-speaking shell over the same code the Dagster assets run.

This module holds what every command shares (the app, options, the staff-error handling); the commands are in
`work` (issuing, checking, consolidating, approving), `audit` (lineage, re-issue, rebuild, reliability) and
`cabinet` (the web cabinet and its accounts).
Commands that change the warehouse materialize the assets in-process (`pipeline.in_process`), so a CLI run and a UI
run are the same run and both show up in the Dagster UI's history. Staff errors (no signing key, a busy
warehouse, a failed run) end with a Russian message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.console import Console

from pipeline import in_process
from pipeline.assets.stale_runs import PoolBusy
from pipeline.config import DATABASE, NoSigningKey, Workspace
from pipeline.reference import Municipality, Reference
from pipeline.store.warehouse import WarehouseBusy

app = typer.Typer(
    help="svod — мониторинг наставничества в ОО через книги Excel.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
HOME = typer.Option(None, "--home", help="Рабочая папка svod (по умолчанию $SVOD_HOME или ./svod_home).")
SCHOOL = typer.Option(..., help="Код ОО, например ARH-001.")
PERIOD = typer.Option(..., help="Код периода, например 2025-Q4 или 2024/2025.")
AS_JSON = typer.Option(False, "--json", help="Вывести в JSON.")


class WrongInput(ValueError):
    """A period, municipality, school or folder the command cannot work with; the message is for staff."""


def existing(home: Path | None) -> Workspace:
    """The workspace at `home`, refused when it holds no warehouse (a forgotten --home must not look empty)."""
    if not Workspace.locate(home).joinpath(DATABASE).exists():
        raise WrongInput(
            f"В рабочей папке {Workspace.locate(home)} нет хранилища svod. Укажите рабочую папку через "
            "--home или SVOD_HOME; новую рабочую папку создают svod templates и svod demo."
        )
    return Workspace.resolve(home)


def reference_of(home: Path | None) -> Reference:
    """The reference data the workspace at `home` is worked with (nothing is created)."""
    return Workspace.resolve(home, create=False).reference


def targets(ref: Reference, period: str, municipalities: list[str] | None) -> list[Municipality]:
    """The named municipalities (default: all) that collect `period`; a wrong code or period is refused with the
    valid ones."""
    known = ref.municipalities
    unknown = sorted(set(municipalities or []) - set(known))
    if unknown:
        raise WrongInput(f"Неизвестный муниципалитет: {', '.join(unknown)}. Есть: {', '.join(known)}.")
    chosen = [known[c] for c in municipalities] if municipalities else list(known.values())
    found = [m for m in chosen if period in {p.code for p in m.periods}]
    if not found or (municipalities and len(found) < len(chosen)):
        valid = sorted({p.code for m in chosen for p in m.periods})
        raise WrongInput(
            f"Периода «{period}» нет в графике отчётности {'выбранных муниципалитетов' if municipalities else 'ни одного муниципалитета'}. "
            f"Коды периодов: {', '.join(valid)}."
        )
    return found


def school_of(ref: Reference, code: str) -> Municipality:
    """The municipality of an ОО of the registry; an unknown code is refused."""
    home = ref.school_home(code)
    if home is None:
        raise WrongInput(
            f"ОО с кодом «{code}» нет в реестре. Коды выглядят как ARH-001 или KED-001; "
            "список ОО муниципалитета показывает svod status --period …"
        )
    return home


def command(fn=None, *, on: typer.Typer = app, name: str | None = None):
    """A CLI command (of `on`, named `name` or after the function) whose staff errors end with a Russian message:
    exit 2 for wrong input, 1 for a failed run."""
    if fn is None:
        return functools.partial(command, on=on, name=name)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NoSigningKey, WarehouseBusy, PoolBusy, WrongInput) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        except in_process.RunFailed as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc

    return on.command(name)(run)


from pipeline.cli import audit, cabinet, work  # noqa: E402,F401 — the commands register themselves on `app`
