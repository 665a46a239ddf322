"""Whose return a file is (M01–M05, from its signed identity) and whether its visible title agrees (M06, M09, M10).

`identify` runs before anything else of a parsed book: without a known school and period no other rule can
run. The title rules compare what the curator can edit with what the template was issued for.
"""

from __future__ import annotations

from datetime import date

from pipeline.domain.issues import Issue, issue
from pipeline.reference import Issuer, Municipality, Period
from pipeline.rules.context import Context
from pipeline.xlsx.school_layout import TEMPLATE_VERSION, Identity


def identify(
    identity: dict[str, str], issuer: Issuer
) -> tuple[Municipality | None, Period | None, list[Issue]]:
    """Whose return this is, from the signed identity sheet, checked against the issuer's registry and calendar."""
    if not identity:
        return None, None, [issue("M01", detail="служебный лист отсутствует")]
    try:
        ident = Identity(**{k: identity.get(k, "") for k in Identity.model_fields})
    except ValueError:
        return None, None, [issue("M01", detail="служебный лист повреждён")]
    if not ident.verify(issuer.signing_key):
        return None, None, [issue("M02", detail="подпись не совпадает")]
    problems = []
    if ident.template_version != TEMPLATE_VERSION:
        problems.append(issue("M03", value=ident.template_version, expected=TEMPLATE_VERSION))
    m = issuer.reference.municipalities.get(ident.municipality)
    if m is None or m.school(ident.school_id) is None:
        return None, None, [*problems, issue("M04", value=ident.school_id, municipality=ident.municipality)]
    try:
        period = m.period(ident.period)
    except KeyError:
        return m, None, [*problems, issue("M05", value=ident.period)]
    return m, period, problems


def _title_row(ctx: Context) -> int | None:
    meta = ctx.rows("meta")
    return meta[0]["_row"] if meta else None


def title_matches_identity(ctx: Context) -> list[Issue]:
    """M06: the visible school, period and municipality are those the template was issued for."""
    if _title_row(ctx) is None:
        return [issue("C01", sheet="meta", column="school_id", cell="A3")]
    school = ctx.m.school(ctx.book.identity["school_id"])
    expected = {
        "school_id": school.id,
        "report_period_code": ctx.period.code,
        "municipality_code": ctx.m.name,
    }
    return [
        ctx.at("M06", "meta", _title_row(ctx), code, value=got, expected=want)
        for code, want in expected.items()
        if (got := ctx.meta(code)) is not None and str(got) != want
    ]


def director_confirmed(ctx: Context) -> list[Issue]:
    """M09: the head of the school confirmed the return."""
    if ctx.meta("director_confirmed") == "нет":
        return [ctx.at("M09", "meta", _title_row(ctx), "director_confirmed")]
    return []


def submission_date_sane(ctx: Context) -> list[Issue]:
    """M10: the submission date is neither in the future nor before the period began."""
    submitted = ctx.meta("submission_date")
    if submitted and submitted > date.today():
        return [ctx.at("M10", "meta", _title_row(ctx), "submission_date", detail="ещё не наступила")]
    if submitted and submitted < ctx.period.start:
        return [
            ctx.at(
                "M10", "meta", _title_row(ctx), "submission_date", detail="раньше начала отчётного периода"
            )
        ]
    return []
