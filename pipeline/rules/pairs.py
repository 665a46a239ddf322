"""Rules on mentoring pairs and groups: form against categories and programme (X03), people's statuses against
their pairs (X05), load per mentor (X07), unit composition (X09) and the programme of a working pair (X10).

A pair «works in the period» by `pipeline.domain.figures.is_active`, the same rule the indicators use.
"""

from __future__ import annotations

from pipeline.domain.figures import is_active
from pipeline.domain.issues import Issue
from pipeline.domain.vocabulary import Severity
from pipeline.rules.context import Context, distinct, groups

TEACHER_FORM = "педагог – педагог"


def form_fits(ctx: Context) -> list[Issue]:
    """X03: the form suits both people's categories (matrix of §2.0) and is one of its programme's forms."""
    out = []
    mentor_cat = {r["mentor_id"]: r["mentor_category"] for r in ctx.rows("mentors")}
    mentee_cat = {r["mentee_id"]: r["mentee_category"] for r in ctx.rows("mentees")}
    prog_forms = {r["programme_id"]: r["forms"] for r in ctx.rows("programmes")}
    known = set(ctx.catalogue.sheet("pairs").column("form").values)
    for p in ctx.rows("pairs"):
        rule = ctx.catalogue.form_matrix.get(p["form"])
        if rule is None:
            continue
        mc, ec = mentor_cat.get(p["mentor_id"]), mentee_cat.get(p["mentee_id"])
        problems, guess = [], rule.guess
        if mc and mc not in rule.mentors:
            guess = guess or mc in rule.mentors_guess
            problems.append(f"наставник категории «{mc}»")
        if ec and ec not in rule.mentees:
            problems.append(f"наставляемый категории «{ec}»")
        if problems:
            out.append(
                ctx.at(
                    "X03",
                    "pairs",
                    p["_row"],
                    "form",
                    severity=Severity.WARNING if guess and len(problems) == 1 else None,
                    detail=f"Форма «{p['form']}» не подходит: {', '.join(problems)}.",
                )
            )
        forms = prog_forms.get(p["programme_id"])
        listed = (
            forms and p["form"] in known and all(f in known for f in forms.split("; "))
        )  # else C06 says it
        if listed and p["form"] not in forms.split("; "):
            out.append(
                ctx.at(
                    "X03",
                    "pairs",
                    p["_row"],
                    "form",
                    detail=f"Форма «{p['form']}» не входит в формы программы {p['programme_id']} ({forms}).",
                )
            )
    return out


def statuses_agree(ctx: Context) -> list[Issue]:
    """X05: a mentor «active» (a mentee «in a pair») has a pair working in the period (§2.0); one with another
    status has no pair still going at the period's end. A pair that ended inside the period fits either status.
    People in a pair row whose dates could not be read are left to the typing error (it wins)."""
    out, end = [], ctx.period.end
    unreadable = ctx.unreadable_rows("pairs", ("start_date", "actual_end_date"))
    pairs = [p for p in ctx.rows("pairs") if p["_row"] not in unreadable]
    doubtful = {
        p[c] for p in ctx.rows("pairs") if p["_row"] in unreadable for c in ("mentor_id", "mentee_id")
    }
    for code, status_name, left in (
        ("mentors", "mentor_active", "mentor_left"),
        ("mentees", "mentee_in_pair", "mentee_left"),
    ):
        key, status = ctx.catalogue.keys[code], ctx.status(status_name)
        working = {
            p[key] for p in pairs if is_active(p["start_date"], p["actual_end_date"], ctx.period.start, end)
        }
        going_on = {
            p[key]
            for p in pairs
            if p["start_date"]
            and p["start_date"] <= end
            and (p["actual_end_date"] is None or p["actual_end_date"] > end)
        }
        for rec in ctx.rows(code):
            if rec[key] in doubtful or rec["status"] == ctx.status(left):
                continue
            if rec["status"] == status and rec[key] not in working:
                detail = f"{rec[key]}: статус «{rec['status']}», но действующих в периоде пар нет."
            elif rec["status"] != status and rec[key] in going_on:
                detail = f"{rec[key]}: есть пара, которая продолжается, а статус «{rec['status']}»."
            else:
                continue
            out.append(ctx.at("X05", code, rec["_row"], "status", detail=detail))
    return out


def load_per_mentor(ctx: Context) -> list[Issue]:
    """X07: no more mentees per mentor than the catalogue's thresholds (lower in «педагог – педагог»)."""
    out = []
    t = ctx.catalogue.thresholds
    for mentor_id, group in groups(ctx.active_pairs(), "mentor_id").items():
        limit = (
            t["load_per_mentor_teacher"]
            if all(p["form"] == TEACHER_FORM for p in group)
            else t["load_per_mentor"]
        )
        load = len(distinct(p["mentee_id"] for p in group))
        if load > limit:
            out.append(
                ctx.at(
                    "X07",
                    "pairs",
                    group[0]["_row"],
                    "mentor_id",
                    value=mentor_id,
                    count=load,
                    limit=int(limit),
                )
            )
    return out


def unit_composition(ctx: Context) -> list[Issue]:
    """X09: a pair is one row, a group has two people on a side, a personalised programme has one mentee."""
    out = []
    pairs = ctx.rows("pairs")
    for gid, group in groups(pairs, "pair_group_id").items():
        unit = group[0]["unit_type"]
        if unit == "пара" and len(group) > 1:
            out.append(
                ctx.at(
                    "X09",
                    "pairs",
                    group[1]["_row"],
                    "pair_group_id",
                    severity=Severity.ERROR,
                    detail=f"«{gid}» отмечена как пара, но занимает {len(group)} строки.",
                )
            )
        if (
            unit == "группа"
            and len(distinct(p["mentee_id"] for p in group)) < 2
            and len(distinct(p["mentor_id"] for p in group)) < 2
        ):
            out.append(
                ctx.at(
                    "X09",
                    "pairs",
                    group[0]["_row"],
                    "unit_type",
                    detail=f"В группе «{gid}» один наставник и один наставляемый.",
                )
            )
    kind = {r["programme_id"]: r["programme_kind"] for r in ctx.rows("programmes")}
    for pid, group in groups(pairs, "programme_id").items():
        if (
            kind.get(pid) in ctx.catalogue.group("personalised_programmes")
            and len(distinct(p["mentee_id"] for p in group)) != 1
        ):
            out.append(
                ctx.at(
                    "X09",
                    "pairs",
                    group[0]["_row"],
                    "programme_id",
                    detail=f"У персонализированной программы {pid} должен быть ровно один наставляемый.",
                )
            )
    return out


def programme_running(ctx: Context) -> list[Issue]:
    """X10: a pair still working belongs to a programme that is running."""
    prog_status = {r["programme_id"]: r["status"] for r in ctx.rows("programmes")}
    return [
        ctx.at(
            "X10",
            "pairs",
            p["_row"],
            "programme_id",
            value=p["pair_group_id"],
            programme=p["programme_id"],
            status=status,
        )
        for p in ctx.active_pairs()
        if (status := prog_status.get(p["programme_id"]))
        and status != ctx.status("programme_running")
        and p["status"] == ctx.status("pair_active")
    ]
