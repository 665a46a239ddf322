"""Rules within one sheet: conditional requirements (C02), same-row comparisons (C11) and rows of people
without consent to processing (C12), which are dropped before anything else looks at them.

C02 and C11 are read from the catalogue column by column (`required_if`, `compare`), so adding such a rule
is a catalogue edit, not code.
"""

from __future__ import annotations

from pipeline.domain.issues import Issue
from pipeline.rules.context import Context, distinct
from pipeline.xlsx.reader import show

OPS = {"<=": ("не больше", lambda a, b: a <= b), ">=": ("не меньше", lambda a, b: a >= b)}
PEOPLE = ("mentors", "mentees")


def _filled_sheet(ctx: Context, code: str):
    """The parsed sheet and its catalogue entry, or None when the sheet has no rows."""
    s = ctx.book.sheets.get(code)
    return (s, ctx.catalogue.sheet(code)) if s is not None and len(s) else None


def required_if(ctx: Context, code: str) -> list[Issue]:
    """C02: a column the catalogue makes required under a condition (on this row or on the title sheet)."""
    if not (found := _filled_sheet(ctx, code)):
        return []
    (s, spec), out = found, []
    meta = {"school_type": ctx.meta("school_type"), "municipality_code": ctx.m.code}
    for col in spec.columns:
        cond = col.required_if
        if not cond or col.code not in s.letters:
            continue
        blank = [j for j, value in enumerate(s.values[col.code]) if value is None]
        source, _, name = cond.column.rpartition(".")
        if source == "meta":
            rows = blank if blank and cond.holds(meta.get(name)) else []
        else:
            allowed, other = spec.column(cond.column).values, s.values[cond.column]
            rows = [j for j in blank if cond.holds(other[j]) and (not allowed or other[j] in allowed)]
        if rows:
            label = ctx.catalogue.column(cond.column if source else f"{code}.{cond.column}").label
            out += [
                ctx.at(
                    "C02",
                    code,
                    s.rows[j],
                    col.code,
                    severity=col.missing_severity,
                    condition=cond.describe(label),
                )
                for j in rows
            ]
    return out


def same_row_comparisons(ctx: Context, code: str) -> list[Issue]:
    """C11: one column compared with another of the same row (e.g. end date not before start date)."""
    if not (found := _filled_sheet(ctx, code)):
        return []
    (s, spec), out = found, []
    for col in spec.columns:
        for op, other in col.compare:
            text, holds = OPS[op]
            other_label = spec.column(other).label
            out += [
                ctx.at("C11", code, row, col.code, op_text=text, other=show(b), other_label=other_label)
                for row, a, b in zip(s.rows, s.values[col.code], s.values[other], strict=True)
                if a is not None and b is not None and not holds(a, b)
            ]
    return out


def drop_without_consent(ctx: Context) -> list[Issue]:
    """C12: rows of people without consent to processing are not loaded (domain.md §4 rule 4)."""
    out = []
    for code in PEOPLE:
        s = ctx.book.sheets.get(code)
        if s is None:
            continue
        key = ctx.catalogue.keys[code]
        refused = [rec for rec in s.records if rec["pd_consent"] == "нет"]
        out += [ctx.at("C12", code, rec["_row"], "pd_consent", value=rec[key]) for rec in refused]
        ctx.refused |= distinct(rec[key] for rec in refused)
        if refused:
            s.drop({rec["_row"] for rec in refused})
    return out
