"""Rules on the people of a return: counts against the school profile (X06), consent of everyone in a pair
(X08) and the labour-code paperwork of staff mentors (X08a)."""

from __future__ import annotations

from datetime import date

from pipeline.domain.issues import Issue
from pipeline.rules.context import Context

ACTIVE_FROM_TK = date(2025, 3, 1)  # art. 351.8 of the Labour Code applies to pairs working after this day
YOUNG_SPECIALIST = "молодой специалист (стаж 0–3 года)"
YOUNG_MANAGER = "молодой руководитель (стаж в должности до 2 лет)"
STUDENT = "обучающийся"
# profile column -> (people sheet, column, value) of the people in working pairs it bounds
PROFILE_BOUNDS = {
    "young_specialists_0_3": ("mentees", "mentee_category", YOUNG_SPECIALIST),
    "teachers_under_35": ("mentees", "under_35", "да"),
    "students_total": ("mentees", "mentee_category", STUDENT),
    "young_managers_0_2": ("mentees", "mentee_category", YOUNG_MANAGER),
    "students_age_15_18": ("mentors", "age_group", "15–18 лет"),
}


def within_profile(ctx: Context) -> list[Issue]:
    """X06: people in working pairs of a kind never outnumber the profile's count of that kind."""
    profile = ctx.rows("school_profile")
    if not profile:
        return []
    prow, active, out = profile[0], ctx.active_pairs(), []
    for column, (sheet, attribute, value) in PROFILE_BOUNDS.items():
        key = ctx.catalogue.keys[sheet]
        working = {p[key] for p in active}
        count = sum(1 for r in ctx.rows(sheet) if r[key] in working and r[attribute] == value)
        bound = prow[column]
        if bound is not None and count > bound:
            label = ctx.catalogue.column(f"school_profile.{column}").label
            out.append(
                ctx.at(
                    "X06",
                    "school_profile",
                    prow["_row"],
                    column,
                    detail=f"В базе {count} участников, относящихся к «{label}», а в профиле указано {bound}.",
                )
            )
    return out


def consent_in_pairs(ctx: Context) -> list[Issue]:
    """X08: everyone in a pair consented; a pupil's consent was given by a legal representative."""
    mentors, mentees, out = ctx.rows("mentors"), ctx.rows("mentees"), []
    consent = {
        **{r["mentor_id"]: r["pd_consent"] for r in mentors},
        **{r["mentee_id"]: r["pd_consent"] for r in mentees},
    }
    by_rep = {r["mentee_id"]: r["pd_consent_by"] for r in mentees}
    minors = {r["mentee_id"] for r in mentees if r["mentee_category"] == STUDENT}
    for p in ctx.rows("pairs"):
        for column in ("mentor_id", "mentee_id"):
            pid = p[column]
            if pid in ctx.refused or (pid in consent and consent[pid] != "да"):
                out.append(
                    ctx.at(
                        "X08",
                        "pairs",
                        p["_row"],
                        column,
                        detail=f"У участника {pid} нет согласия на обработку ПДн.",
                    )
                )
        if p["mentee_id"] in minors and by_rep.get(p["mentee_id"]) == "субъектом ПДн":
            out.append(
                ctx.at(
                    "X08",
                    "pairs",
                    p["_row"],
                    "mentee_id",
                    detail=f"За обучающегося {p['mentee_id']} согласие должен дать законный представитель.",
                )
            )
    return out


def labour_code_paperwork(ctx: Context) -> list[Issue]:
    """X08a: a staff mentor working after 01.03.2025 has written consent and an agreement with the employer."""
    if ctx.period.end < ACTIVE_FROM_TK:
        return []
    working = {p["mentor_id"] for p in ctx.active_pairs()}
    return [
        ctx.at(
            "X08a",
            "mentors",
            rec["_row"],
            "written_consent_mentoring",
            value=rec["mentor_id"],
            detail="нет письменного согласия или доп. соглашения",
        )
        for rec in ctx.rows("mentors")
        if rec["mentor_category"] in ctx.catalogue.group("staff_mentors")
        and rec["mentor_id"] in working
        and (rec["written_consent_mentoring"] != "да" or rec["employer_agreement_ref"] is None)
    ]
