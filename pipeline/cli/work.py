"""svod commands for the work itself: the demo, issuing templates, checking a file, consolidating, status,
approving and the Dagster UI."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path

import typer
from rich.progress import track
from rich.table import Table

from pipeline import runner
from pipeline.cli import HOME, PERIOD, SCHOOL, command, console
from pipeline.config import Workspace
from pipeline.defs.stale_runs import unfinished_runs
from pipeline.domain.vocabulary import Verdict
from pipeline.intake import approvals
from pipeline.intake.run import dry_run
from pipeline.reference import load_reference
from pipeline.schools import issue_templates


@command
def demo(home: Path = HOME) -> None:
    """Весь путь на учебных данных: шаблоны → заполненные отчёты → приём → хранилище → сводки."""
    from samples.demo import run_demo

    run_demo(home, console)


@command
def templates(period: str = PERIOD,
              municipality: list[str] = typer.Option(None, help="Код муниципалитета (можно несколько)."),
              school: list[str] = typer.Option(None, help="Код ОО (можно несколько)."),
              out: Path = typer.Option(Path("templates_out"), help="Папка для шаблонов."),
              home: Path = HOME) -> None:
    """Выпустить шаблоны отчёта для ОО."""
    ws = Workspace.resolve(home)
    ref = load_reference()
    chosen = [m for m in ref.municipalities.values() if not municipality or m.code in municipality]
    unknown = set(municipality or []) - {m.code for m in chosen}
    without = [m.code for m in chosen if period not in {p.code for p in m.periods}]
    if unknown or (municipality and without):
        console.print(f"[red]Неизвестный муниципалитет или периода {period} нет в его графике: "
                      f"{', '.join(sorted(unknown | set(without)))}.[/red]")
        raise typer.Exit(2)
    chosen = [m for m in chosen if m.code not in without]
    total = carried = 0
    with ws.connect() as con:
        for m in chosen:
            paths, n = issue_templates(con, ws.key, out / m.code, m.code, period, school or None, date.today(),
                                       progress=lambda items, m=m: track(items, description=f"Шаблоны: {m.name}", console=console))
            total, carried = total + len(paths), carried + n
    if not total:
        console.print("[red]Нет ОО для выпуска шаблонов: проверьте период, муниципалитет и код ОО.[/red]")
        raise typer.Exit(2)
    console.print(f"Выпущено шаблонов: {total} (с данными прошлого периода: {carried}) → {out}")


@command
def check(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Файл отчёта ОО (.xlsx)."),
          out: Path = typer.Option(Path("."), help="Куда записать проверенную копию и квитанцию."),
          home: Path = HOME) -> None:
    """Проверить один файл без загрузки в хранилище. Код выхода 0 — принят, 2 — не принят."""
    ws = Workspace.resolve(home)
    result = dry_run(file, ws, out)
    colour = "red" if result.verdict is Verdict.REJECTED else "green"
    console.print(f"[{colour}]Решение: {result.verdict.ru}[/{colour}] — {file.name}")
    for i in result.issues:
        console.print(f"  {i.where} — {i.severity.ru}: {i.message} Как исправить: {i.fix}", soft_wrap=True)
    for p in result.feedback:
        console.print(f"  → {p}", soft_wrap=True)
    raise typer.Exit(2 if result.verdict is Verdict.REJECTED else 0)


@command
def run(period: str = PERIOD,
        municipality: list[str] = typer.Option(None, help="Код муниципалитета (по умолчанию все с этим периодом)."),
        home: Path = HOME) -> None:
    """Принять файлы из папки inbox, проверить, загрузить и выпустить сводки."""
    ws = Workspace.resolve(home)
    ws.key  # noqa: B018 — stop before any run when there is no key to check signatures with
    targets = [(m.code, period) for m in load_reference().municipalities.values()
               if (not municipality or m.code in municipality) and period in {p.code for p in m.periods}]
    if not targets:
        console.print(f"[red]Период {period} не найден в графиках выбранных муниципалитетов.[/red]")
        raise typer.Exit(2)
    runner.consolidate(ws, targets, progress=lambda items: track(items, description="Проверка и свод по муниципалитетам",
                                                                 console=console), notify=console.print)
    console.print(f"Готово. Сводки: {ws.out}; ответы школам: {ws.outbox}")


@command
def status(period: str = PERIOD,
           municipality: str = typer.Option(None, help="Код муниципалитета."), home: Path = HOME) -> None:
    """Кто сдал, кто опоздал, кто не сдал."""
    ws = Workspace.resolve(home)
    ref = load_reference()
    with ws.connect() as con:
        for m in ref.municipalities.values():
            if (municipality and m.code != municipality) or period not in {p.code for p in m.periods}:
                continue
            deadline = m.period(period).deadline
            table = Table(title=f"{m.name}, период {period}, срок {deadline:%d.%m.%Y}")
            for col in ("Код ОО", "ОО", "Статус", "Версия", "Получен", "В срок"):
                table.add_column(col)
            for s in m.schools:
                last = con.execute("SELECT verdict, version, received_at, on_time FROM submission WHERE school_id = ? "
                                   "AND period = ? ORDER BY version DESC NULLS LAST LIMIT 1", [s.id, period]).fetchone()
                if last is None:
                    late = date.today() > deadline
                    table.add_row(s.id, s.name, "[red]не сдан[/red]" if late else "ожидается", "", "", "срок прошёл" if late else "")
                else:
                    table.add_row(s.id, s.name, Verdict(last[0]).ru, str(last[1] or ""),
                                  f"{last[2]:%d.%m.%Y %H:%M}", "да" if last[3] else "нет")
            console.print(table)
    _unfinished_runs(ws)


def _unfinished_runs(ws: Workspace) -> None:
    """Runs still marked as running in the workspace's Dagster instance, and whether their process is alive."""
    if not (ws.home / ".dagster").exists():
        return
    stuck = unfinished_runs(runner.instance(ws))
    if not stuck:
        return
    table = Table(title="Незавершённые запуски")
    for col in ("Запуск", "Задание", "Начат", "Процесс", "Состояние"):
        table.add_column(col)
    for s in stuck:
        table.add_row(s.run_id, s.job, f"{datetime.fromtimestamp(s.started):%d.%m.%Y %H:%M}" if s.started else "",
                      str(s.pid or ""), "выполняется" if s.alive else "[red]прерван[/red] (будет закрыт следующим запуском)")
    console.print(table)


@command
def approve(school: str = SCHOOL, period: str = PERIOD, home: Path = HOME) -> None:
    """Утвердить принятый отчёт ОО: новые версии будут ждать разблокировки."""
    ws = Workspace.resolve(home)
    with ws.connect() as con:
        sha = approvals.approve(con, school, period)
    if sha is None:
        console.print(f"[red]У ОО {school} нет принятого отчёта за период {period}: утверждать нечего.[/red]")
        raise typer.Exit(2)
    console.print(f"Отчёт ОО {school} за {period} утверждён (файл {sha[:16]}). Новые версии будут отложены.")


@command
def unlock(school: str = SCHOOL, period: str = PERIOD, home: Path = HOME) -> None:
    """Снять утверждение: отложенные версии снова встанут в очередь на проверку (svod run)."""
    ws = Workspace.resolve(home)
    with ws.connect() as con:
        released = approvals.unlock(con, school, period)
    console.print(f"Утверждение снято. Отложенных версий возвращено в очередь: {released}. Запустите svod run.")


@command
def ui(port: int = typer.Option(3000, help="Порт веб-интерфейса."), home: Path = HOME) -> None:
    """Открыть интерфейс Dagster (только на этом компьютере: 127.0.0.1)."""
    ws = Workspace.resolve(home)
    runner.instance(ws)
    env = {**os.environ, "SVOD_HOME": str(ws.home), "SVOD_SIGNING_KEY": ws.key, "DAGSTER_HOME": str(ws.home / ".dagster")}
    console.print(f"Интерфейс: http://127.0.0.1:{port}  (остановить — Ctrl+C)")
    os.execve(sys.executable, [sys.executable, "-m", "dagster", "dev", "-m", "pipeline.definitions",
                               "-h", "127.0.0.1", "-p", str(port)], env)

