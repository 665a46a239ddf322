"""svod commands about what is on record: where a figure came from, what a school cell feeds, re-issuing a past
summary, rebuilding the warehouse from the archive, and the reliability report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from pipeline.cli import AS_JSON, HOME, command, console, existing
from pipeline.domain.vocabulary import Level, Verdict
from pipeline.publish import lineage, municipal
from pipeline.publish.compute import compute, store
from pipeline.rebuild import journaled_as_of
from pipeline.rebuild import rebuild as rebuild_from_archive
from pipeline.store import queries
from pipeline.store.queries import content_hash
from pipeline.xlsx.summary_layout import municipal_paths


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
def explain(
    workbook: Path = typer.Option(..., exists=True, help="Сводная книга."),
    cell: str = typer.Option(..., help="Ячейка, например 'Показатели по ОО!C7'."),
    as_json: bool = AS_JSON,
    home: Path = HOME,
) -> None:
    """Откуда взялась цифра: от ячейки сводки до файлов, листов и ячеек отчётов ОО."""
    ws = existing(home)
    answer = _lineage_answer(
        lambda: lineage.explain(workbook, cell, ws.database if ws.database.exists() else None), as_json
    )
    if answer is None:
        return
    console.print(
        f"[bold]{answer['indicator']}[/bold] — {answer['title']} ({answer['entity']}, период {answer['period']})"
    )
    console.print(
        f"Значение: {answer['value']}; числитель {answer['numerator']}, знаменатель {answer['denominator']}"
    )
    console.print(f"Формула: {answer['formula']}")
    console.print(f"ID показателя: {answer['figure_id']}")
    table = Table(title="Источники")
    for col in ("Часть", "ОО", "Файл (SHA-256)", "Версия", "Лист", "Ячейка", "Значение"):
        table.add_column(col)
    for s in answer["sources"]:
        table.add_row(
            s["part"],
            s["school_id"],
            s["sha256"][:16],
            str(s.get("version", "")),
            s["sheet"],
            s["cell"],
            s["value"],
        )
    console.print(table)


@command
def impact(
    file: Path = typer.Option(..., "--file", exists=True, help="Файл отчёта ОО, как он был прислан."),
    cell: str = typer.Option(..., help="Ячейка отчёта, например 'База наставляемых!A5'."),
    as_json: bool = AS_JSON,
    home: Path = HOME,
) -> None:
    """Какие опубликованные цифры зависят от ячейки отчёта ОО."""
    ws = existing(home)
    answer = _lineage_answer(lambda: lineage.impact(ws.database, file, cell), as_json)
    if answer is None:
        return
    console.print(
        f"Ячейка {answer['cell']} отчёта ОО {answer['school_id']} за {answer['period']} "
        f"(версия {answer['version']}, {Verdict(answer['verdict']).ru})"
    )
    if answer["superseded_by"]:
        console.print(
            "[yellow]Эта версия заменена более новой; цифры ниже относятся к прошлым расчётам.[/yellow]"
        )
    table = Table(title=f"Цифры, зависящие от ячейки: {len(answer['figures'])}")
    for col in ("Показатель", "Уровень", "ОО / МО", "Значение", "Роль ячейки", "ID"):
        table.add_column(col)
    for f in answer["figures"]:
        table.add_row(
            f"{f['indicator']} {f['title']}",
            Level(f["level"]).ru,
            f["entity"],
            "—" if f["value"] is None else f["value"] if isinstance(f["value"], str) else f"{f['value']:g}",
            f["part"],
            f["figure_id"],
        )
    console.print(table)


@command
def reissue(
    run_id: str = typer.Option(..., "--run", help="Идентификатор расчёта (лист «Титул» сводки)."),
    out: Path = typer.Option(Path("reissued"), help="Куда записать книгу."),
    home: Path = HOME,
) -> None:
    """Выпустить заново сводку прошлого расчёта — байт в байт такую же, как тогда."""
    ws = existing(home)
    record = ws.journal / f"{run_id}.json"
    if not record.exists():
        console.print(f"[red]Расчёт {run_id} не найден в журнале {ws.journal}.[/red]")
        raise typer.Exit(2)
    run = json.loads(record.read_text(encoding="utf-8"))
    with ws.connect() as con:
        if queries.run_of(con, run_id) is None:  # not stored here: compute it
            computed = compute(con, ws.reference, run["municipality"], run["period"], run["submissions"])
            store(con, ws.reference, computed, as_of=journaled_as_of(run))
        municipal.write_municipal(con, ws.reference, out, run_id, ws.key)
    path = municipal_paths(out, run["municipality"], run["period"], run_id)[1]
    console.print(f"Сводка расчёта {run_id} выпущена заново: {path}")


@command
def rebuild(
    replace: bool = typer.Option(False, "--replace", help="Заменить хранилище пересобранным."),
    home: Path = HOME,
) -> None:
    """Пересобрать хранилище из архива полученных файлов и сравнить с текущим."""
    ws = existing(home)
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
def reliability(
    fuzz: int = typer.Option(1000, help="Сколько искажённых копий корректного отчёта проверить."),
) -> None:
    """Отчёт о надёжности: испорченные и враждебные файлы, мутации, повторный приём, утечки ПДн."""
    from samples.reliability import run_report as run_reliability_report

    with console.status("Проверка корпуса файлов…"):
        report = run_reliability_report(fuzz)
    for line in report.lines():
        console.print(line, soft_wrap=True)
    raise typer.Exit(0 if report.clean else 1)
