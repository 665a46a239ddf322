"""The `svod` command line: a thin Russian-speaking shell over the same code the Dagster assets run.

Commands that change the warehouse materialize the assets in-process (`pipeline.runner`), so a CLI run and a UI
run are the same run and both show up in the Dagster UI's history. Staff errors (no signing key, a busy
warehouse, a failed run) end with a Russian message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from pipeline import runner
from pipeline.config import NoSigningKey, Workspace
from pipeline.defs.stale_runs import PoolBusy, unfinished_runs
from pipeline.domain.vocabulary import Level, Verdict
from pipeline.intake import approvals
from pipeline.intake.run import dry_run
from pipeline.publish import lineage, municipal
from pipeline.publish.compute import compute, store
from pipeline.rebuild import rebuild as rebuild_from_archive
from pipeline.reference import load_reference
from pipeline.schools import issue_templates
from pipeline.store.queries import content_hash
from pipeline.store.warehouse import WarehouseBusy
from pipeline.xlsx.summary_layout import municipal_paths

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
        console.print(f"  \\[{i.rule}, {i.severity.ru}] {i.where}: {i.message} Как исправить: {i.fix}", soft_wrap=True)
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


def _lineage_answer(query, as_json: bool) -> dict | None:
    """Run a lineage query; a wrong cell exits with 2 and a Russian message; with --json print and return None."""
    try:
        answer = query()
    except lineage.NotAFigure as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(answer, ensure_ascii=False, indent=2, default=str))
        return None
    return answer


@command
def explain(workbook: Path = typer.Option(..., exists=True, help="Сводная книга."),
            cell: str = typer.Option(..., help="Ячейка, например 'Показатели по ОО!C7'."),
            as_json: bool = AS_JSON, home: Path = HOME) -> None:
    """Откуда взялась цифра: от ячейки сводки до файлов, листов и ячеек отчётов ОО."""
    ws = Workspace.resolve(home)
    answer = _lineage_answer(lambda: lineage.explain(workbook, cell, ws.database if ws.database.exists() else None), as_json)
    if answer is None:
        return
    console.print(f"[bold]{answer['indicator']}[/bold] — {answer['title']} ({answer['entity']}, период {answer['period']})")
    console.print(f"Значение: {answer['value']}; числитель {answer['numerator']}, знаменатель {answer['denominator']}")
    console.print(f"Формула: {answer['formula']}")
    console.print(f"ID показателя: {answer['figure_id']}")
    table = Table(title="Источники")
    for col in ("Часть", "ОО", "Файл (SHA-256)", "Версия", "Лист", "Ячейка", "Значение"):
        table.add_column(col)
    for s in answer["sources"]:
        table.add_row(s["part"], s["school_id"], s["sha256"][:16], str(s.get("version", "")), s["sheet"], s["cell"], s["value"])
    console.print(table)


@command
def impact(file: Path = typer.Option(..., "--file", exists=True, help="Файл отчёта ОО, как он был прислан."),
           cell: str = typer.Option(..., help="Ячейка отчёта, например 'База наставляемых!A5'."),
           as_json: bool = AS_JSON, home: Path = HOME) -> None:
    """Какие опубликованные цифры зависят от ячейки отчёта ОО."""
    ws = Workspace.resolve(home)
    answer = _lineage_answer(lambda: lineage.impact(ws.database, file, cell), as_json)
    if answer is None:
        return
    console.print(f"Ячейка {answer['cell']} отчёта ОО {answer['school_id']} за {answer['period']} "
                  f"(версия {answer['version']}, {Verdict(answer['verdict']).ru})")
    if answer["superseded_by"]:
        console.print("[yellow]Эта версия заменена более новой; цифры ниже относятся к прошлым расчётам.[/yellow]")
    table = Table(title=f"Цифры, зависящие от ячейки: {len(answer['figures'])}")
    for col in ("Показатель", "Уровень", "ОО / МО", "Значение", "Роль ячейки", "ID"):
        table.add_column(col)
    for f in answer["figures"]:
        table.add_row(f"{f['indicator']} {f['title']}", Level(f["level"]).ru,
                      f["entity"], "—" if f["value"] is None else f"{f['value']:g}", f["part"], f["figure_id"])
    console.print(table)


@command
def reissue(run_id: str = typer.Option(..., "--run", help="Идентификатор расчёта (лист «Титул» сводки)."),
            out: Path = typer.Option(Path("reissued"), help="Куда записать книгу."), home: Path = HOME) -> None:
    """Выпустить заново сводку прошлого расчёта — байт в байт такую же, как тогда."""
    ws = Workspace.resolve(home)
    record = ws.journal / f"{run_id}.json"
    if not record.exists():
        console.print(f"[red]Расчёт {run_id} не найден в журнале {ws.journal}.[/red]")
        raise typer.Exit(2)
    run = json.loads(record.read_text(encoding="utf-8"))
    with ws.connect() as con:
        if not con.execute("SELECT 1 FROM run WHERE run_id = ?", [run_id]).fetchone():  # not stored here: compute it
            store(con, run["municipality"], run["period"], compute(con, run["municipality"], run["period"], run["submissions"]))
        municipal.write_municipal(con, out, run_id, ws.key)
    path = municipal_paths(out, run["municipality"], run["period"], run_id)[1]
    console.print(f"Сводка расчёта {run_id} выпущена заново: {path}")


@command
def rebuild(replace: bool = typer.Option(False, "--replace", help="Заменить хранилище пересобранным."),
            home: Path = HOME) -> None:
    """Пересобрать хранилище из архива полученных файлов и сравнить с текущим."""
    ws = Workspace.resolve(home)
    target = ws.home / "svod.rebuilt.duckdb"
    with console.status("Пересборка хранилища из архива…"):
        rebuilt = rebuild_from_archive(ws, target)
    current = None
    if ws.database.exists():
        with ws.connect(read_only=True) as con:
            current = content_hash(con)
    console.print(f"Пересобрано: {target} (контрольная сумма содержимого {rebuilt[:16]})")
    if current is not None:
        same = "совпадает" if current == rebuilt else "[red]НЕ совпадает[/red]"
        console.print(f"Текущее хранилище: {current[:16]} — {same}")
    if replace:
        os.replace(target, ws.database)
        console.print("Хранилище заменено пересобранным.")


@command
def reliability(fuzz: int = typer.Option(1000, help="Сколько искажённых копий корректного отчёта проверить.")) -> None:
    """Отчёт о надёжности: испорченные и враждебные файлы, мутации, повторный приём, утечки ПДн."""
    from samples.reliability import run_report as run_reliability_report

    with console.status("Проверка корпуса файлов…"):
        report = run_reliability_report(fuzz)
    for line in report.lines():
        console.print(line, soft_wrap=True)
    raise typer.Exit(0 if report.clean else 1)


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


if __name__ == "__main__":
    app()
