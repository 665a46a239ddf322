"""Rules against the school's previous accepted period (run in the parent, which reads the warehouse): people who
vanished without the status «выбыл» and programmes that decreased (X15), registries that jumped (P01)."""

from __future__ import annotations

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue, issue
from pipeline.xlsx.reader import ParsedBook

PEOPLE = ("mentors", "mentees")
MAX_LISTED = 10


def nothing_vanished(book: ParsedBook, previous: dict[str, pd.DataFrame]) -> list[Issue]:
    """X15: people of the previous return missing from this one; fewer programmes (a cumulative figure in S4)."""
    out = []
    for code in PEOPLE:
        key, before = load_catalogue().keys[code], previous.get(code)
        if before is None or before.empty:
            continue
        gone = sorted(set(before[key]) - set(book.column(code, key)))
        if gone:
            out.append(
                issue(
                    "X15",
                    sheet=code,
                    detail=f"Из базы пропали без статуса «{load_catalogue().status('mentor_left')}»: {', '.join(gone[:MAX_LISTED])}"
                    + (" и др." if len(gone) > MAX_LISTED else "")
                    + ".",
                )
            )
    before, count = (
        previous.get("programmes"),
        len(book.column("programmes", load_catalogue().keys["programmes"])),
    )
    if before is not None and count < len(before):
        out.append(
            issue(
                "X15",
                sheet="programmes",
                detail=f"Число программ уменьшилось: было {len(before)}, стало {count}.",
            )
        )
    return out


def registries_plausible(book: ParsedBook, previous: dict[str, pd.DataFrame]) -> list[Issue]:
    """P01: a registry grew or shrank by more than the catalogue's factor."""
    catalogue, out = load_catalogue(), []
    t = catalogue.thresholds
    for code in PEOPLE:
        before = previous.get(code)
        if before is None or before.empty:
            continue
        a, b = len(before), len(book.column(code, catalogue.keys[code]))
        if max(a, b) >= t["plausibility_min_base"] and (
            b > a * t["plausibility_ratio"] or a > b * t["plausibility_ratio"]
        ):
            out.append(
                issue(
                    "P01",
                    sheet=code,
                    detail=f"«{catalogue.sheet(code).title}»: число записей было {a}, стало {b} — "
                    "подтвердите или исправьте.",
                )
            )
    return out
