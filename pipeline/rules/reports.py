"""Rules on what a school reports about its work: survey respondents against participants (X11), names of
people in free text (X12) and roadmap statuses with their evidence (X13)."""

from __future__ import annotations

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue
from pipeline.domain.vocabulary import Severity
from pipeline.rules.context import Context, distinct

FREE_TEXT = (
    ("best_practices", "description"),
    ("best_practices", "results"),
    ("roadmap_status", "comment"),
    ("mentees", "request_summary"),
)
PUBLISHED_TEXT = {"best_practices"}  # a name there is an error (it may be published); elsewhere a warning


def respondents_within_participants(ctx: Context) -> list[Issue]:
    """X11: a survey line has no more respondents than people of that role and form in pairs."""
    pairs, out = ctx.rows("pairs"), []
    for rec in ctx.rows("survey_summary"):
        n = rec["n_respondents"]
        if n is None or rec["respondent_role"] == "куратор" or not pairs:
            continue
        scope = (
            pairs
            if rec["form"] == load_catalogue().status("all_forms")
            else [p for p in pairs if p["form"] == rec["form"]]
        )
        key = "mentee_id" if rec["respondent_role"] == "наставляемые" else "mentor_id"
        count = len(distinct(p[key] for p in scope))
        if n > count:
            out.append(
                ctx.at(
                    "X11",
                    "survey_summary",
                    rec["_row"],
                    "n_respondents",
                    role=rec["respondent_role"],
                    form=rec["form"],
                    count=count,
                )
            )
    return out


def no_names_in_text(ctx: Context) -> list[Issue]:
    """X12: free text does not name a mentor or mentee (surname and first name)."""
    names = [r["full_name"] for r in ctx.rows("mentees") + ctx.rows("mentors") if r["full_name"]]
    short_names = sorted({" ".join(n.split()[:2]).lower() for n in names if len(n.split()) >= 2})
    out = []
    for code, column in FREE_TEXT:
        for rec in ctx.rows(code):
            text = rec[column]
            if not text:
                continue
            lowered = text.lower()
            if hit := next((n for n in short_names if n in lowered), None):
                out.append(
                    ctx.at(
                        "X12",
                        code,
                        rec["_row"],
                        column,
                        value=hit.title(),
                        severity=Severity.ERROR if code in PUBLISHED_TEXT else Severity.WARNING,
                    )
                )
    return out


def roadmap_statuses(ctx: Context) -> list[Issue]:
    """X13: an item due in the period is not «not required»; a done item names its evidence."""
    out = []
    for rec in ctx.rows("roadmap_status"):
        if rec["due_in_period"] == "да" and rec["status"] == ctx.status("roadmap_not_required"):
            out.append(
                ctx.at(
                    "X13",
                    "roadmap_status",
                    rec["_row"],
                    "status",
                    detail=f"Пункт {rec['activity_code']}: срок наступает в периоде, статус «не требуется» недопустим.",
                )
            )
        if rec["status"] in ctx.catalogue.group("roadmap_done") and not rec["evidence_ref"]:
            out.append(
                ctx.at(
                    "X13",
                    "roadmap_status",
                    rec["_row"],
                    "evidence_ref",
                    detail=f"Пункт {rec['activity_code']} выполнен, но нет реквизитов подтверждающего документа.",
                )
            )
    return out
