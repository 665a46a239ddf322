"""svod commands for the work itself: the demo, issuing templates, checking a file, consolidating, status,
approving and the Dagster UI."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import typer
from rich.progress import track
from rich.table import Table

from pipeline import in_process
from pipeline.assets.stale_runs import unfinished_runs
from pipeline.cli import (
    HOME,
    PERIOD,
    SCHOOL,
    WrongInput,
    command,
    console,
    existing,
    reference_of,
    school_of,
    targets,
)
from pipeline.config import Workspace
from pipeline.domain.vocabulary import NOT_SENT, Decision, Verdict
from pipeline.intake import decisions
from pipeline.intake.decisions import StaffDecision
from pipeline.intake.steps import dry_run
from pipeline.schools import issue_templates
from pipeline.store import queries
from pipeline.xlsx.summary_layout import municipal_paths


@command
def demo(home: Path = HOME) -> None:
    """Весь путь на учебных данных: шаблоны → заполненные отчёты → приём → хранилище → сводки."""
    from samples.demo import run_demo

    ws = run_demo(home, console)
    _demo_cabinet(ws)


def _demo_cabinet(ws: Workspace) -> None:
    """The demo's cabinet accounts, and the cabinet's state brought up to what the demo recorded."""
    from cabinet.setup import start

    start(ws.home)
    from django.conf import settings

    from cabinet import notices
    from cabinet.accounts import DEMO_PASSWORD, demo_accounts
    from cabinet.worker import sync_all

    accounts = demo_accounts()
    sync_all()  # also records the receipts of the demo's answers
    sent, postponed = notices.send_queued()
    where = (
        "через почтовый сервер"
        if settings.MAIL_CONFIGURED
        else f"записаны в файлы (почта не настроена): {settings.EMAIL_FILE_PATH}"
    )
    console.print(
        f"Уведомления школам: {sent} писем {where}" + (f"; отложено: {postponed}" if postponed else ""),
        soft_wrap=True,
    )
    console.print(
        f"Кабинет: svod serve --home {ws.home}  → http://127.0.0.1:8000/ (пароль у всех учётных записей "
        f"демо: {DEMO_PASSWORD})",
        soft_wrap=True,
    )
    console.print("; ".join(f"{who} — {username}" for who, username in accounts), soft_wrap=True)


@command
def templates(
    period: str = PERIOD,
    municipality: list[str] = typer.Option(None, help="Код муниципалитета (можно несколько)."),
    school: list[str] = typer.Option(None, help="Код ОО (можно несколько)."),
    out: Path = typer.Option(Path("templates_out"), help="Папка для шаблонов."),
    home: Path = HOME,
) -> None:
    """Выпустить шаблоны отчёта для ОО (создаёт рабочую папку, если её ещё нет)."""
    ref = reference_of(home)
    chosen = targets(ref, period, municipality)
    for code in school or []:
        if school_of(ref, code) not in chosen:
            raise WrongInput(f"ОО «{code}» не относится к выбранным муниципалитетам.")
    ws = Workspace.resolve(home)
    total = carried = 0
    with ws.connect() as con:
        for m in chosen:
            paths, n = issue_templates(
                con,
                ws.issuer,
                out / m.code,
                m.code,
                period,
                school or None,
                date.today(),
                progress=lambda items, m=m: track(items, description=f"Шаблоны: {m.name}", console=console),
            )
            total, carried = total + len(paths), carried + n
    console.print(f"Выпущено шаблонов: {total} (с данными прошлого периода: {carried}) → {out}")


@command
def check(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Файл отчёта ОО (.xlsx)."),
    out: Path = typer.Option(Path("."), help="Куда записать проверенную копию и квитанцию."),
    home: Path = HOME,
) -> None:
    """Проверить один файл без загрузки в хранилище. Код выхода 0 — принят, 2 — не принят."""
    ws = Workspace.resolve(home, create=False)
    result = dry_run(file, ws, out)
    colour = "red" if result.verdict is Verdict.REJECTED else "green"
    console.print(f"[{colour}]Решение: {result.verdict.ru}[/{colour}] — {file.name}")
    for i in result.issues:
        console.print(f"  {i.where} — {i.severity.ru}: {i.message} Как исправить: {i.fix}", soft_wrap=True)
    for p in result.feedback:
        console.print(f"  → {p}", soft_wrap=True)
    raise typer.Exit(2 if result.verdict is Verdict.REJECTED else 0)


@command
def run(
    period: str = PERIOD,
    municipality: list[str] = typer.Option(
        None, help="Код муниципалитета (по умолчанию все с этим периодом)."
    ),
    home: Path = HOME,
) -> None:
    """Принять файлы из папки inbox, проверить, загрузить и выпустить сводки."""
    chosen = targets(reference_of(home), period, municipality)
    ws = existing(home)
    ws.key  # noqa: B018 — stop before any run when there is no key to check signatures with
    with ws.connect(read_only=True) as con:
        before = queries.files_received(con)
    in_process.consolidate(
        ws,
        [(m.code, period) for m in chosen],
        notify=console.print,
        progress=lambda items: track(
            items, description="Проверка и свод по муниципалитетам", console=console
        ),
    )
    table = Table(title=f"Итоги свода за период {period}")
    for col in (
        "Муниципалитет",
        "ОО",
        "Принято",
        "С предупр.",
        "Не принято",
        "В очереди",
        "Не сдали",
        "Сводка",
    ):
        table.add_column(col)
    unpublished = []
    with ws.connect(read_only=True) as con:
        received = queries.files_received(con) - before
        for m in chosen:
            n = tally(queries.school_states(con, m.code, period))
            published = municipal_paths(ws.out, m.code, period, "")[0].exists()
            unpublished += [] if published else [m.name]
            table.add_row(
                m.name, str(len(m.schools)), *(str(n[k]) for k in TALLY[:-1]), "есть" if published else "нет"
            )
    console.print(table)
    console.print(
        f"Получено новых файлов: {received}. Сводки: {ws.out}. Ответы школам: {ws.outbox}", soft_wrap=True
    )
    if unpublished:
        console.print(f"Сводка не выпущена (нет принятых отчётов): {', '.join(unpublished)}.", soft_wrap=True)


TALLY = (
    Verdict.ACCEPTED,
    Verdict.ACCEPTED_WITH_WARNINGS,
    Verdict.REJECTED,
    Verdict.PENDING,
    NOT_SENT,
    "итого",
)


def tally(states) -> dict:
    """How many ОО stand where: by the verdict of their latest return (pending and held together), or not sent."""
    verdicts = [
        Verdict.PENDING if v == Verdict.HELD else v if isinstance(v, str) else NOT_SENT
        for v in states["verdict"]
    ]
    return {k: verdicts.count(k) for k in TALLY[:-1]} | {"итого": len(verdicts)}


@command
def status(
    period: str = PERIOD,
    municipality: str = typer.Option(None, help="Код муниципалитета."),
    home: Path = HOME,
) -> None:
    """Кто сдал, кто опоздал, кто не сдал, и почему отчёт не принят."""
    chosen = targets(reference_of(home), period, [municipality] if municipality else None)
    ws = existing(home)
    with ws.connect(read_only=True) as con:
        for m in chosen:
            deadline = m.period(period).deadline
            states = queries.school_states(con, m.code, period)
            table = Table(title=f"{m.name}, период {period}, срок {deadline:%d.%m.%Y}")
            for col in ("Код ОО", "ОО", "Статус", "Версия", "Получен", "В срок", "Причина"):
                table.add_column(col)
            for s in states.itertuples():
                if not isinstance(s.verdict, str):
                    late = date.today() > deadline
                    table.add_row(
                        s.school_id,
                        s.name,
                        f"[red]{NOT_SENT}[/red]" if late else "ожидается",
                        "",
                        "",
                        "срок прошёл" if late else "",
                        "",
                    )
                    continue
                counted = Verdict(s.verdict).loads
                table.add_row(
                    s.school_id,
                    s.name,
                    Verdict(s.verdict).ru,
                    "" if pd.isna(s.version) else str(int(s.version)),
                    f"{s.received_at:%d.%m.%Y %H:%M}",
                    ("да" if s.on_time else "нет") if counted else "—",
                    s.reason if isinstance(s.reason, str) and not counted else "",
                )
            console.print(table)
            n = tally(states)
            console.print(
                f"Всего ОО: {n['итого']}; принято: {n[Verdict.ACCEPTED]}, с предупреждениями: "
                f"{n[Verdict.ACCEPTED_WITH_WARNINGS]}, не принято: {n[Verdict.REJECTED]}, в очереди: "
                f"{n[Verdict.PENDING]}, не сдали: {n[NOT_SENT]}."
            )
    _unfinished_runs(ws)


def _unfinished_runs(ws: Workspace) -> None:
    """Runs still marked as running in the workspace's Dagster instance, and whether their process is alive."""
    if not (ws.home / ".dagster").exists():
        return
    stuck = unfinished_runs(in_process.instance(ws))
    if not stuck:
        return
    table = Table(title="Незавершённые запуски")
    for col in ("Запуск", "Задание", "Начат", "Процесс", "Состояние"):
        table.add_column(col)
    for s in stuck:
        table.add_row(
            s.run_id,
            s.job,
            f"{datetime.fromtimestamp(s.started):%d.%m.%Y %H:%M}" if s.started else "",
            str(s.pid or ""),
            "выполняется" if s.alive else "[red]прерван[/red] (будет закрыт следующим запуском)",
        )
    console.print(table)


def decide(kind: Decision, school: str, period: str, home: Path | None, reason: str = "") -> str:
    """Hand a staff decision to the pipeline and run the school's partition, so it applies and the summary
    follows; returns what it did, in words."""
    ref = reference_of(home)
    m = school_of(ref, school)
    targets(ref, period, [m.code])
    ws = existing(home)
    ws.key  # noqa: B018 — stop before the run when there is no key to check signatures with
    made = StaffDecision(
        kind=kind, school_id=school, municipality=m.code, period=period, made_at=datetime.now(), reason=reason
    )
    path = decisions.request(ws, made)
    in_process.consolidate(ws, [(m.code, period)], notify=console.print)
    with ws.connect(read_only=True) as con:
        return queries.decision_outcome(con, path.name) or "не применено"


@command
def approve(school: str = SCHOOL, period: str = PERIOD, home: Path = HOME) -> None:
    """Утвердить принятый отчёт ОО: новые версии будут ждать разблокировки."""
    outcome = decide(Decision.APPROVE, school, period, home)
    console.print(f"Отчёт ОО {school} за {period}: {outcome}.")
    if "нечего" in outcome:
        raise typer.Exit(2)


@command
def unlock(school: str = SCHOOL, period: str = PERIOD, home: Path = HOME) -> None:
    """Снять утверждение: отложенные версии проверяются сразу, сводка обновляется."""
    console.print(f"Отчёт ОО {school} за {period}: {decide(Decision.UNAPPROVE, school, period, home)}.")


@command(name="return")
def return_for_correction(
    school: str = SCHOOL,
    period: str = PERIOD,
    reason: str = typer.Option(..., help="Что исправить: ОО увидит эту причину."),
    home: Path = HOME,
) -> None:
    """Вернуть принятый отчёт ОО на доработку: он не учитывается в своде, пока ОО не пришлёт новую версию."""
    if not reason.strip():
        raise WrongInput("Укажите причину возврата: ОО увидит её и будет знать, что исправить.")
    outcome = decide(Decision.RETURN, school, period, home, reason.strip())
    console.print(f"Отчёт ОО {school} за {period}: {outcome}.")
    if "нечего" in outcome:
        raise typer.Exit(2)


@command
def ui(port: int = typer.Option(3000, help="Порт веб-интерфейса."), home: Path = HOME) -> None:
    """Открыть интерфейс Dagster (только на этом компьютере: 127.0.0.1)."""
    ws = existing(home)
    in_process.instance(ws)
    env = {
        **os.environ,
        "SVOD_HOME": str(ws.home),
        "SVOD_SIGNING_KEY": ws.key,
        "DAGSTER_HOME": str(ws.home / ".dagster"),
    }
    console.print(f"Интерфейс: http://127.0.0.1:{port}  (остановить — Ctrl+C)")
    os.execve(
        sys.executable,
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-m",
            "pipeline.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env,
    )
