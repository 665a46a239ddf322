"""Rules on mentoring pairs and groups: form against categories and programme (X03), people's statuses against
their pairs (X05), load per mentor (X07), unit composition (X09) and the programme of a working pair (X10).

A pair «works in the period» by `pipeline.domain.figures.is_active`, the same rule the indicators use.
"""

from __future__ import annotations

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
            out.append(ctx.at("X03", "pairs", p["_row"], "form",
                              severity=Severity.WARNING if guess and len(problems) == 1 else None,
                              detail=f"Форма «{p['form']}» не подходит: {', '.join(problems)}."))
        forms = prog_forms.get(p["programme_id"])
        if forms and p["form"] not in forms.split("; "):
            out.append(ctx.at("X03", "pairs", p["_row"], "form",
                              detail=f"Форма «{p['form']}» не входит в формы программы {p['programme_id']} ({forms})."))
    return out


def statuses_agree(ctx: Context) -> list[Issue]:
    """X05: «active» mentors and mentees «in a pair» are exactly those with a pair working in the period."""
    out = []
    active = ctx.active_pairs()
    for code, status_name, left in (("mentors", "mentor_active", "mentor_left"), ("mentees", "mentee_in_pair", "mentee_left")):
        key = ctx.catalogue.keys[code]
        working, status = {p[key] for p in active}, ctx.status(status_name)
        for rec in ctx.rows(code):
            if (rec["status"] == status) != (rec[key] in working) and rec["status"] != ctx.status(left):
                detail = (f"{rec[key]}: статус «{rec['status']}», но действующих пар нет" if rec["status"] == status
                          else f"{rec[key]}: есть действующая пара, а статус «{rec['status']}»")
                out.append(ctx.at("X05", code, rec["_row"], "status", detail=detail))
    return out


def load_per_mentor(ctx: Context) -> list[Issue]:
    """X07: no more mentees per mentor than the catalogue's thresholds (lower in «педагог – педагог»)."""
    out = []
    t = ctx.catalogue.thresholds
    for mentor_id, group in groups(ctx.active_pairs(), "mentor_id").items():
        limit = t["load_per_mentor_teacher"] if all(p["form"] == TEACHER_FORM for p in group) else t["load_per_mentor"]
        load = len(distinct(p["mentee_id"] for p in group))
        if load > limit:
            out.append(ctx.at("X07", "pairs", group[0]["_row"], "mentor_id", value=mentor_id, count=load, limit=int(limit)))
    return out


def unit_composition(ctx: Context) -> list[Issue]:
    """X09: a pair is one row, a group has two people on a side, a personalised programme has one mentee."""
    out = []
    pairs = ctx.rows("pairs")
    for gid, group in groups(pairs, "pair_group_id").items():
        unit = group[0]["unit_type"]
        if unit == "пара" and len(group) > 1:
            out.append(ctx.at("X09", "pairs", group[1]["_row"], "pair_group_id", severity=Severity.ERROR,
                              detail=f"«{gid}» отмечена как пара, но занимает {len(group)} строки."))
        if (unit == "группа" and len(distinct(p["mentee_id"] for p in group)) < 2
                and len(distinct(p["mentor_id"] for p in group)) < 2):
            out.append(ctx.at("X09", "pairs", group[0]["_row"], "unit_type", detail=f"В группе «{gid}» один наставник и один наставляемый."))
    kind = {r["programme_id"]: r["programme_kind"] for r in ctx.rows("programmes")}
    for pid, group in groups(pairs, "programme_id").items():
        if kind.get(pid) in ctx.catalogue.group("personalised_programmes") and len(distinct(p["mentee_id"] for p in group)) != 1:
            out.append(ctx.at("X09", "pairs", group[0]["_row"], "programme_id",
                              detail=f"У персонализированной программы {pid} должен быть ровно один наставляемый."))
    return out


def programme_running(ctx: Context) -> list[Issue]:
    """X10: a pair still working belongs to a programme that is running."""
    prog_status = {r["programme_id"]: r["status"] for r in ctx.rows("programmes")}
    return [ctx.at("X10", "pairs", p["_row"], "programme_id", value=p["pair_group_id"], programme=p["programme_id"],
                   status=status)
            for p in ctx.active_pairs()
            if (status := prog_status.get(p["programme_id"])) and status != ctx.status("programme_running")
            and p["status"] == ctx.status("pair_active")]
