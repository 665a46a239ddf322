"""Rules on dates against the reporting period: dates inside it or not after its end (X04), and a return sent
after the municipality's deadline (X14, accepted with a flag)."""

from __future__ import annotations

from pipeline.domain.issues import Issue, issue
from pipeline.rules.context import Context

# (sheet, column) -> "in": inside the period; "end": not after its end
PERIOD_WINDOW = {
    ("events", "date_start"): "in",
    ("training", "date_end"): "in",
    ("pairs", "actual_end_date"): "in",
    ("pairs", "start_date"): "end",
    ("programmes", "start_date"): "end",
    ("mentors", "included_date"): "end",
    ("mentees", "included_date"): "end",
}


def dates_in_period(ctx: Context) -> list[Issue]:
    """X04: events, trainings and pair endings inside the period; starts and inclusions not after its end."""
    start, end = ctx.period.start, ctx.period.end
    return [
        ctx.at(
            "X04",
            code,
            rec["_row"],
            column,
            detail="вне периода" if kind == "in" else "позже конца периода",
            period_start=f"{start:%d.%m.%Y}",
            period_end=f"{end:%d.%m.%Y}",
        )
        for (code, column), kind in PERIOD_WINDOW.items()
        for rec in ctx.rows(code)
        if (value := rec[column]) is not None and (value > end or (kind == "in" and value < start))
    ]


def on_time(ctx: Context) -> list[Issue]:
    """X14: a late return is accepted with a flag."""
    if ctx.received > ctx.period.deadline:
        return [issue("X14", value=f"{ctx.received:%d.%m.%Y}", deadline=f"{ctx.period.deadline:%d.%m.%Y}")]
    return []
