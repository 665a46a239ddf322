"""The bundled sample and `svod demo`: fake curators fill the issued templates and drop them into the inbox,
and the whole path runs on them through the same Dagster assets staff use.

A deterministic story per municipality: most schools send on time, some late, some with typical mistakes
(later corrected), one or two never send, and one sends a CSV renamed to .xlsx. A demo workspace is marked as
such and signs with the published demo key; nothing here is used by the pipeline itself.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from pipeline import in_process
from pipeline.assets.partitions import partition_key
from pipeline.config import DEMO_MARKER, DEMO_SIGNING_KEY, Workspace
from pipeline.domain.vocabulary import Verdict
from pipeline.store import queries
from pipeline.xlsx.templates import template_name
from samples.fake_school import MISTAKES, fill, make_mistake, school_data

NEVER_SEND = {"arkhangelsk": 2, "levokumsky": 1, "nazarovo": 1}
CORRECTED = ("bad_date", "enum_typo", "unknown_mentor")


@dataclass
class Return:
    municipality: str
    period: str
    school_id: str
    mistake: str | None
    late: bool
    received: datetime


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16)


def _drop(path, when: datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


def inbox_name(ws: Workspace, school_id: str, period: str, suffix: str = "") -> Path:
    """Where a fake curator drops the return: one file per school and period."""
    return ws.inbox / f"{school_id}_отчёт_{period.replace('/', '-')}{suffix}.xlsx"


@dataclass(frozen=True)
class Filling:
    """One return a fake curator fills: the issued template, where it lands, and what goes in."""

    template: Path
    out: Path
    seed: int
    size: str
    received: datetime
    mistake: str | None


def _filling(ws: Workspace, r: Return, suffix: str = "") -> Filling:
    template = (
        ws.templates
        / r.municipality
        / r.period.replace("/", "-")
        / template_name(r.municipality, r.period, r.school_id)
    )
    size = ws.reference.municipalities[r.municipality].school(r.school_id).size
    out = inbox_name(ws, r.school_id, r.period, suffix)
    return Filling(template, out, _seed(r.school_id, r.period), size, r.received, r.mistake)


def _fill(job: Filling) -> None:
    data = school_data(job.template, job.seed, job.size, job.received.date())
    if job.mistake:
        make_mistake(data, job.mistake)
    _drop(fill(job.template, job.out, data), job.received)


def fill_all(jobs: list[Filling], processes: int = 1) -> None:
    """Fill every return, in `processes` forked from a server that has imported the filler once."""
    if processes <= 1 or len(jobs) < 2 * processes:
        for job in jobs:
            _fill(job)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["samples.fake_school"])
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_fill, jobs, chunksize=4))


def first_returns(ws: Workspace, targets: list[tuple[str, str]]) -> list[Return]:
    """The story of each target: who sends when, and with which mistake (nothing written yet)."""
    ref = ws.reference
    story = []
    mistakes = list(MISTAKES)
    k = 0
    for municipality, period_code in targets:
        m = ref.municipalities[municipality]
        period = m.period(period_code)
        rng = random.Random(municipality)
        silent = set(rng.sample([s.id for s in m.schools], NEVER_SEND.get(municipality, 0)))
        for n, school in enumerate(m.schools):
            if school.id in silent:
                continue
            late = n % 7 == 3
            mistake = mistakes[k % len(mistakes)] if n % 5 == 1 else None
            k += mistake is not None
            day = (
                period.deadline + timedelta(days=4)
                if late
                else period.deadline - timedelta(days=rng.randint(1, 20))
            )
            story.append(
                Return(
                    municipality,
                    period_code,
                    school.id,
                    mistake,
                    late,
                    datetime.combine(day, time(10, rng.randint(0, 59))),
                )
            )
    return story


def corrections(story: list[Return]) -> list[Return]:
    """Schools whose return was rejected for a correctable mistake send a fixed version two days later."""
    return [
        Return(r.municipality, r.period, r.school_id, None, r.late, r.received + timedelta(days=2))
        for r in story
        if r.mistake in CORRECTED
    ]


def drop_junk(ws: Workspace) -> None:
    """A CSV renamed to .xlsx, from nobody in particular."""
    junk = ws.inbox / "Отчёт_школа.xlsx"
    junk.write_text("ОО;наставники;наставляемые\nШкола;5;7\n", encoding="cp1251")
    _drop(junk, datetime.combine(date(2025, 12, 1), time(9)))


def fill_inbox(ws: Workspace, targets: list[tuple[str, str]]) -> list[Return]:
    """Every school's first return for each target, dated by the story, and the junk file."""
    story = first_returns(ws, targets)
    fill_all([_filling(ws, r) for r in story])
    drop_junk(ws)
    return story


def send_corrections(ws: Workspace, story: list[Return]) -> list[tuple[str, str, str]]:
    """The corrected versions of `story`'s correctable rejections, into the inbox."""
    fixed = corrections(story)
    fill_all([_filling(ws, r, suffix="_исправлен") for r in fixed])
    return [(r.municipality, r.period, r.school_id) for r in fixed]


def demo_workspace(home: Path | None) -> Workspace:
    """A fresh demo workspace at `home` (an earlier demo's files removed), marked to sign with the demo key."""
    ws = Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    for folder in ("inbox", "archive", "outbox", "out", "templates", ".dagster"):
        shutil.rmtree(ws.home / folder, ignore_errors=True)
    ws.database.unlink(missing_ok=True)
    (ws.home / DEMO_MARKER).write_text("Рабочая папка svod demo: подписи учебным ключом.\n", encoding="utf-8")
    return Workspace.resolve(ws.home)


def run_demo(home: Path | None, console: Console) -> Workspace:
    """Templates → filled returns → intake → warehouse → summaries, on the bundled sample; prints the results."""
    ws = demo_workspace(home)
    ref = ws.reference
    targets = [(m, p) for m, periods in ref.demo_earlier.items() for p in periods] + list(
        ref.demo_periods.items()
    )
    instance = in_process.instance(ws)
    for municipality, period in track(targets, description="Шаблоны для ОО", console=console):
        in_process.materialize(ws, instance, ["school_templates"], partition_key(municipality, period))
    # the corrections are dated two days after the rejected returns: one run checks both, in order of arrival
    story = first_returns(ws, targets)
    jobs = [_filling(ws, r) for r in story] + [_filling(ws, r, "_исправлен") for r in corrections(story)]
    fill_all(jobs, os.cpu_count() or 1)
    drop_junk(ws)
    progress = lambda items: track(items, description="Проверка и свод по муниципалитетам", console=console)  # noqa: E731
    in_process.consolidate(ws, targets, settle=0, progress=progress)
    report(ws, targets, console)
    return ws


def report(ws: Workspace, targets: list[tuple[str, str]], console: Console) -> None:
    with ws.connect(read_only=True) as con:
        table = Table(title="Итоги приёма")
        for col in ("Муниципалитет", "Период", "ОО", "Принято", "С предупр.", "Отклонено", "Не сдали"):
            table.add_column(col)
        for municipality, period in targets:
            latest = queries.school_states(con, municipality, period)["verdict"].dropna()
            counts, n, sent = (
                latest.value_counts(),
                len(ws.reference.municipalities[municipality].schools),
                len(latest),
            )
            table.add_row(
                municipality,
                period,
                str(n),
                *(
                    str(counts.get(v.value, 0))
                    for v in (Verdict.ACCEPTED, Verdict.ACCEPTED_WITH_WARNINGS, Verdict.REJECTED)
                ),
                str(n - sent),
            )
        console.print(table)
    console.print(f"Сводки:          {ws.out}")
    console.print(f"Ответы школам:   {ws.outbox}")
    console.print(f"Хранилище:       {ws.database}")
    console.print(f"Архив файлов:    {ws.archive}")
    console.print(
        f"Пример проверки цифры: svod explain --home {ws.home} --workbook {next(ws.out.glob('*/*.xlsx'))} "
        "--cell 'Показатели по ОО!C2'"
    )


def copy_into_inbox(files: list[Path], ws: Workspace) -> None:
    for f in files:
        shutil.copy2(f, ws.inbox / f.name)
