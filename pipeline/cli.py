"""The `svod` command line: a thin Russian-speaking shell over the same code the Dagster assets run.

Commands that change the warehouse materialize the assets in-process, so a CLI run and a UI run are the same
run and both show up in the Dagster UI's history.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from pipeline import demo as demo_data
from pipeline import intake, lineage, summaries, warehouse
from pipeline.assets import SETTLE_TAG
from pipeline.config import Workspace
from pipeline.definitions import PARTITION_STAGES, build_defs
from pipeline.intake import dry_run
from pipeline.issues import VERDICT_RU
from pipeline.partitions import partition_key
from pipeline.rebuild import rebuild as rebuild_from_archive
from pipeline.reference import load_reference
from pipeline.reliability import run_report as run_reliability_report
from pipeline.resources import SvodWorkspace
from pipeline.templates import issue_templates

app = typer.Typer(help="svod — мониторинг наставничества в ОО через книги Excel.", no_args_is_help=True,
                  add_completion=False)
console = Console()
HOME = typer.Option(None, "--home", help="Рабочая папка svod (по умолчанию $SVOD_HOME или ./svod_home).")
SCHOOL = typer.Option(..., help="Код ОО, например ARH-001.")
PERIOD = typer.Option(..., help="Код периода, например 2025-Q4 или 2024/2025.")
AS_JSON = typer.Option(False, "--json", help="Вывести в JSON.")
DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _instance(ws: Workspace) -> dg.DagsterInstance:
    dagster_home = ws.home / ".dagster"
    dagster_home.mkdir(exist_ok=True)
    shutil.copyfile(DAGSTER_YAML, dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dg.DagsterInstance.get()


def _materialize(ws: Workspace, instance, names: list[str], partition: str | None = None, tags: dict | None = None):
    defs = build_defs({"svod": SvodWorkspace(home=str(ws.home))})
    result = dg.materialize([*defs.assets, *defs.asset_checks], selection=names, partition_key=partition, instance=instance,
                            resources={"svod": SvodWorkspace(home=str(ws.home))}, tags=tags or {},
                            raise_on_error=False, run_config=QUIET)
    if not result.success:
        console.print(f"[red]Ошибка при выполнении {', '.join(names)}[/red] (подробности — в журнале Dagster).")
        raise typer.Exit(1)
    return result


def consolidate(ws: Workspace, targets: list[tuple[str, str]], settle: float = 2.0) -> None:
    """Receive the inbox, check and load each target's returns, publish municipal and regional summaries."""
    instance = _instance(ws)
    tags = {SETTLE_TAG: str(settle)}
    _materialize(ws, instance, ["unidentified_returns"], tags=tags)
    for municipality, period in track(targets, description="Проверка и свод по муниципалитетам", console=console):
        _materialize(ws, instance, PARTITION_STAGES, partition_key(municipality, period), tags=tags)
    _materialize(ws, instance, ["regional_summary"])


@app.command()
def demo(home: Path = HOME) -> None:
    """Весь путь на учебных данных: шаблоны → заполненные отчёты → приём → хранилище → сводки."""
    ws = Workspace.resolve(home)
    if ws.database.exists() or any(ws.outbox.iterdir()):
        for folder in ("inbox", "archive", "outbox", "out", "templates", ".dagster"):
            shutil.rmtree(ws.home / folder, ignore_errors=True)
        ws.database.unlink(missing_ok=True)
        ws = Workspace.resolve(ws.home)
    ref = load_reference()
    targets = list(ref.demo_periods.items())
    instance = _instance(ws)
    for municipality, period in track(targets, description="Шаблоны для ОО", console=console):
        _materialize(ws, instance, ["school_templates"], partition_key(municipality, period))
    story = demo_data.fill_inbox(ws, targets)
    consolidate(ws, targets, settle=0)
    resent = demo_data.send_corrections(ws, story)
    if resent:
        consolidate(ws, sorted({(m, p) for m, p, _ in resent}), settle=0)
    _report(ws, targets, story)


def _report(ws: Workspace, targets, story) -> None:
    with warehouse.connect(ws.database, read_only=True) as con:
        table = Table(title="Итоги приёма")
        for col in ("Муниципалитет", "Период", "ОО", "Принято", "С предупр.", "Отклонено", "Не сдали"):
            table.add_column(col)
        for municipality, period in targets:
            counts = dict(con.execute(
                "SELECT verdict, count(*) FROM (SELECT school_id, arg_max(verdict, version) AS verdict FROM submission "
                "WHERE municipality = ? AND period = ? GROUP BY 1) GROUP BY 1", [municipality, period]).fetchall())
            n = len(load_reference().municipalities[municipality].schools)
            sent = con.execute("SELECT count(DISTINCT school_id) FROM submission WHERE municipality = ? AND period = ?",
                               [municipality, period]).fetchone()[0]
            table.add_row(municipality, period, str(n), str(counts.get("accepted", 0)),
                          str(counts.get("accepted_with_warnings", 0)), str(counts.get("rejected", 0)), str(n - sent))
        console.print(table)
    console.print(f"Сводки:          {ws.out}")
    console.print(f"Ответы школам:   {ws.outbox}")
    console.print(f"Хранилище:       {ws.database}")
    console.print(f"Архив файлов:    {ws.archive}")
    console.print(f"Пример проверки цифры: svod explain --home {ws.home} --workbook {next(ws.out.glob('*/*.xlsx'))} "
                  "--cell 'Показатели по ОО!C2'")


@app.command()
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
    with warehouse.connect(ws.database) as con:
        for m in chosen:
            paths, n = issue_templates(con, ws, out / m.code, m.code, period, school or None, date.today(),
                                       progress=lambda items, m=m: track(items, description=f"Шаблоны: {m.name}", console=console))
            total, carried = total + len(paths), carried + n
    if not total:
        console.print("[red]Нет ОО для выпуска шаблонов: проверьте период, муниципалитет и код ОО.[/red]")
        raise typer.Exit(2)
    console.print(f"Выпущено шаблонов: {total} (с данными прошлого периода: {carried}) → {out}")


@app.command()
def check(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Файл отчёта ОО (.xlsx)."),
          out: Path = typer.Option(Path("."), help="Куда записать проверенную копию и квитанцию."),
          home: Path = HOME) -> None:
    """Проверить один файл без загрузки в хранилище. Код выхода 0 — принят, 2 — не принят."""
    ws = Workspace.resolve(home)
    result = dry_run(file, ws, out)
    colour = "red" if result.verdict == "rejected" else "green"
    console.print(f"[{colour}]Решение: {VERDICT_RU[result.verdict]}[/{colour}] — {file.name}")
    for i in result.issues:
        sev = "ошибка" if i.severity == "error" else "предупреждение"
        console.print(f"  \\[{i.rule}, {sev}] {i.where}: {i.message} Как исправить: {i.fix}", soft_wrap=True)
    for p in result.feedback:
        console.print(f"  → {p}", soft_wrap=True)
    raise typer.Exit(2 if result.verdict == "rejected" else 0)


@app.command()
def run(period: str = PERIOD,
        municipality: list[str] = typer.Option(None, help="Код муниципалитета (по умолчанию все с этим периодом)."),
        home: Path = HOME) -> None:
    """Принять файлы из папки inbox, проверить, загрузить и выпустить сводки."""
    ws = Workspace.resolve(home)
    targets = [(m.code, period) for m in load_reference().municipalities.values()
               if (not municipality or m.code in municipality) and period in {p.code for p in m.periods}]
    if not targets:
        console.print(f"[red]Период {period} не найден в графиках выбранных муниципалитетов.[/red]")
        raise typer.Exit(2)
    consolidate(ws, targets)
    console.print(f"Готово. Сводки: {ws.out}; ответы школам: {ws.outbox}")


@app.command()
def status(period: str = PERIOD,
           municipality: str = typer.Option(None, help="Код муниципалитета."), home: Path = HOME) -> None:
    """Кто сдал, кто опоздал, кто не сдал."""
    ws = Workspace.resolve(home)
    ref = load_reference()
    with warehouse.connect(ws.database) as con:
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
                    table.add_row(s.id, s.name, VERDICT_RU.get(last[0], "в очереди"), str(last[1] or ""),
                                  f"{last[2]:%d.%m.%Y %H:%M}", "да" if last[3] else "нет")
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


@app.command()
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


@app.command()
def impact(file: Path = typer.Option(..., "--file", exists=True, help="Файл отчёта ОО, как он был прислан."),
           cell: str = typer.Option(..., help="Ячейка отчёта, например 'База наставляемых!A5'."),
           as_json: bool = AS_JSON, home: Path = HOME) -> None:
    """Какие опубликованные цифры зависят от ячейки отчёта ОО."""
    ws = Workspace.resolve(home)
    answer = _lineage_answer(lambda: lineage.impact(ws.database, file, cell), as_json)
    if answer is None:
        return
    console.print(f"Ячейка {answer['cell']} отчёта ОО {answer['school_id']} за {answer['period']} "
                  f"(версия {answer['version']}, {VERDICT_RU.get(answer['verdict'], answer['verdict'])})")
    if answer["superseded_by"]:
        console.print("[yellow]Эта версия заменена более новой; цифры ниже относятся к прошлым расчётам.[/yellow]")
    table = Table(title=f"Цифры, зависящие от ячейки: {len(answer['figures'])}")
    for col in ("Показатель", "Уровень", "ОО / МО", "Значение", "Роль ячейки", "ID"):
        table.add_column(col)
    for f in answer["figures"]:
        table.add_row(f"{f['indicator']} {f['title']}", {"school": "ОО", "municipality": "МО"}.get(f["level"], f["level"]),
                      f["entity"], "—" if f["value"] is None else f"{f['value']:g}", f["part"], f["figure_id"])
    console.print(table)


@app.command()
def reissue(run_id: str = typer.Option(..., "--run", help="Идентификатор расчёта (лист «Титул» сводки)."),
            out: Path = typer.Option(Path("reissued"), help="Куда записать книгу."), home: Path = HOME) -> None:
    """Выпустить заново сводку прошлого расчёта — байт в байт такую же, как тогда."""
    ws = Workspace.resolve(home)
    record = ws.journal / f"{run_id}.json"
    if not record.exists():
        console.print(f"[red]Расчёт {run_id} не найден в журнале {ws.journal}.[/red]")
        raise typer.Exit(2)
    run = json.loads(record.read_text(encoding="utf-8"))
    with warehouse.connect(ws.database) as con:
        summaries.write_municipal(con, out, run["municipality"], run["period"], ws.signing_key, run["submissions"])
    path = next((out / run["municipality"] / summaries.HISTORY).glob(f"*_{run_id}.xlsx"))
    console.print(f"Сводка расчёта {run_id} выпущена заново: {path}")


@app.command()
def rebuild(replace: bool = typer.Option(False, "--replace", help="Заменить хранилище пересобранным."),
            home: Path = HOME) -> None:
    """Пересобрать хранилище из архива полученных файлов и сравнить с текущим."""
    ws = Workspace.resolve(home)
    target = ws.home / "svod.rebuilt.duckdb"
    with console.status("Пересборка хранилища из архива…"):
        rebuilt = rebuild_from_archive(ws, target)
    current = None
    if ws.database.exists():
        with warehouse.connect(ws.database, read_only=True) as con:
            current = warehouse.content_hash(con)
    console.print(f"Пересобрано: {target} (контрольная сумма содержимого {rebuilt[:16]})")
    if current is not None:
        same = "совпадает" if current == rebuilt else "[red]НЕ совпадает[/red]"
        console.print(f"Текущее хранилище: {current[:16]} — {same}")
    if replace:
        os.replace(target, ws.database)
        console.print("Хранилище заменено пересобранным.")


@app.command()
def reliability(fuzz: int = typer.Option(1000, help="Сколько искажённых копий корректного отчёта проверить.")) -> None:
    """Отчёт о надёжности: испорченные и враждебные файлы, мутации, повторный приём, утечки ПДн."""
    with console.status("Проверка корпуса файлов…"):
        report = run_reliability_report(fuzz)
    for line in report.lines():
        console.print(line, soft_wrap=True)
    raise typer.Exit(0 if report.clean else 1)


@app.command()
def approve(school: str = SCHOOL, period: str = PERIOD, home: Path = HOME) -> None:
    """Утвердить принятый отчёт ОО: новые версии будут ждать разблокировки."""
    ws = Workspace.resolve(home)
    with warehouse.connect(ws.database) as con:
        sha = intake.approve(con, school, period)
    if sha is None:
        console.print(f"[red]У ОО {school} нет принятого отчёта за период {period}: утверждать нечего.[/red]")
        raise typer.Exit(2)
    console.print(f"Отчёт ОО {school} за {period} утверждён (файл {sha[:16]}). Новые версии будут отложены.")


@app.command()
def unlock(school: str = SCHOOL, period: str = PERIOD, home: Path = HOME) -> None:
    """Снять утверждение: отложенные версии снова встанут в очередь на проверку (svod run)."""
    ws = Workspace.resolve(home)
    with warehouse.connect(ws.database) as con:
        released = intake.unlock(con, school, period)
    console.print(f"Утверждение снято. Отложенных версий возвращено в очередь: {released}. Запустите svod run.")


@app.command()
def ui(port: int = typer.Option(3000, help="Порт веб-интерфейса."), home: Path = HOME) -> None:
    """Открыть интерфейс Dagster (только на этом компьютере: 127.0.0.1)."""
    ws = Workspace.resolve(home)
    _instance(ws)
    env = {**os.environ, "SVOD_HOME": str(ws.home), "DAGSTER_HOME": str(ws.home / ".dagster")}
    console.print(f"Интерфейс: http://127.0.0.1:{port}  (остановить — Ctrl+C)")
    os.execve(sys.executable, [sys.executable, "-m", "dagster", "dev", "-m", "pipeline.definitions",
                               "-h", "127.0.0.1", "-p", str(port)], env)


if __name__ == "__main__":
    app()
