"""The bundled sample: fake curators fill the issued templates and drop them into the inbox.

A deterministic story per municipality: most schools send on time, some late, some with typical mistakes
(later corrected), one or two never send, and one sends a CSV renamed to .xlsx.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pipeline.config import Workspace
from pipeline.fake_school import MISTAKES, fill, make_mistake, school_data
from pipeline.reference import load_reference
from pipeline.templates import template_name

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


def _write(ws: Workspace, r: Return, seed: int, size: str, mistake: str | None, suffix: str = "") -> None:
    template = ws.templates / r.municipality / r.period.replace("/", "-") / template_name(r.municipality, r.period, r.school_id)
    data = school_data(template, seed, size, r.received.date())
    if mistake:
        make_mistake(data, mistake)
    out = fill(template, ws.inbox / f"{r.school_id}_отчёт{suffix}.xlsx", data)
    _drop(out, r.received)


def fill_inbox(ws: Workspace, targets: list[tuple[str, str]]) -> list[Return]:
    ref = load_reference()
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
            day = period.deadline + timedelta(days=4) if late else period.deadline - timedelta(days=rng.randint(1, 20))
            r = Return(municipality, period_code, school.id, mistake, late, datetime.combine(day, time(10, rng.randint(0, 59))))
            _write(ws, r, seed=_seed(school.id, period_code), size=school.size, mistake=mistake)
            story.append(r)
    junk = ws.inbox / "Отчёт_школа.xlsx"
    junk.write_text("ОО;наставники;наставляемые\nШкола;5;7\n", encoding="cp1251")
    _drop(junk, datetime.combine(date(2025, 12, 1), time(9)))
    return story


def send_corrections(ws: Workspace, story: list[Return]) -> list[tuple[str, str, str]]:
    """Schools whose return was rejected for a correctable mistake send a fixed version two days later."""
    ref = load_reference()
    sent = []
    for r in story:
        if r.mistake in CORRECTED:
            school = ref.municipalities[r.municipality].school(r.school_id)
            fixed = Return(r.municipality, r.period, r.school_id, None, r.late, r.received + timedelta(days=2))
            _write(ws, fixed, seed=_seed(r.school_id, r.period), size=school.size, mistake=None, suffix="_исправлен")
            sent.append((r.municipality, r.period, r.school_id))
    return sent
