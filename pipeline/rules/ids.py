"""Identifiers across sheets: every ID unique in its sheet (X01) and every reference pointing at a row that
exists (X02). Key columns and reference targets come from the catalogue (`keys`, a column's `ref`)."""

from __future__ import annotations

from pipeline.domain.issues import Issue
from pipeline.rules.context import Context

PAIR_UNIT = ("pair_group_id", "mentee_id", "mentor_id")  # a pair or group row is unique by all three


def unique_ids(ctx: Context) -> list[Issue]:
    """X01: no ID twice in its sheet; no pair row twice."""
    out = []
    for code, key in ctx.catalogue.keys.items():
        if code == "pairs":
            continue
        seen: dict = {}
        for rec in ctx.rows(code):
            value = rec[key]
            if value is None:
                continue
            if value in seen:
                out.append(ctx.at("X01", code, rec["_row"], key, other_row=seen[value]))
            seen.setdefault(value, rec["_row"])
    units = set()
    for rec in ctx.rows("pairs"):
        unit = tuple(rec[c] for c in PAIR_UNIT)
        if unit in units:
            out.append(ctx.at("X01", "pairs", rec["_row"], PAIR_UNIT[0], other_row="выше"))
        units.add(unit)
    return out


def references_exist(ctx: Context) -> list[Issue]:
    """X02: every `ref` column names IDs present in the sheet(s) it refers to (people dropped for lack of consent
    are reported by C12, not again here)."""
    out = []
    for sheet in ctx.catalogue.sheets:
        s = ctx.book.sheets.get(sheet.code)
        for col in sheet.columns:
            if not col.ref or s is None or not len(s) or col.code not in s.letters:
                continue
            targets = col.ref.split("|")
            known = set().union(*(set(ctx.book.column(*t.split("."))) for t in targets))
            target_title = " / ".join(ctx.catalogue.sheet(t.split(".")[0]).title for t in targets)
            for rec in s.records:
                for part in [] if rec[col.code] is None else str(rec[col.code]).split("; "):
                    if part not in known and part not in ctx.refused:
                        out.append(
                            ctx.at("X02", sheet.code, rec["_row"], col.code, value=part, target=target_title)
                        )
    return out
