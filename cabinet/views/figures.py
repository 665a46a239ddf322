"""The numbers in the browser: a municipality's indicators against their targets, one indicator by ОО and across
periods (for its methodist), by municipality (for its region), each figure traced down to the school cells it
came from. The same published figures, marks and lineage as the summary workbooks and `svod explain`.
"""

from __future__ import annotations

import pandas as pd
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cabinet.access import municipalities_for, period_of, roles, school_for, staff_municipality
from cabinet.figures import (
    HEADLINES,
    FiguresAway,
    Line,
    bars,
    impact_of,
    indicator_of,
    lines,
    printed,
    published,
    shown,
    trace,
)
from cabinet.models import Role
from cabinet.views.staff import STAFF, xlsx_download
from cabinet.workflow import current_period, school_state
from pipeline.domain.indicators import BREAKDOWNS, BY_CODE
from pipeline.domain.vocabulary import Level
from pipeline.publish.lineage import NotAFigure


def away(request, exc: Exception):
    return render(
        request, "cabinet/message.html", {"title": "Показатели пока недоступны", "text": str(exc)}, status=503
    )


@require_safe
@roles(*STAFF)
def indicators_page(request, account, code, slug):
    m = staff_municipality(account, code)
    period = period_of(m, slug)
    chosen = indicator_of(request.GET.get("indicator"))
    try:
        figures = published([m.code], [Level.MUNICIPALITY.value, Level.SCHOOL.value])
    except FiguresAway as exc:
        return away(request, exc)
    rows = figures.rows
    here = rows[rows["period"] == period.code]
    municipal = here[here["level"] == Level.MUNICIPALITY.value].set_index("indicator")

    def municipal_line(i):
        return (
            lines(municipal.loc[[i.code]], i, lambda r, t=i.title: t)[0]
            if i.code in municipal.index
            else None
        )

    headline = [(i, municipal_line(i)) for i in HEADLINES]
    breakdowns = [(label, [(i, municipal_line(i)) for i in found]) for label, found in BREAKDOWNS.items()]
    schools = here[(here["level"] == Level.SCHOOL.value) & (here["indicator"] == chosen.code)]
    by_school = lines(
        schools, chosen, lambda r: m.school(r.entity).short_name if m.school(r.entity) else r.entity
    )
    trend_rows = rows[(rows["level"] == Level.MUNICIPALITY.value) & (rows["indicator"] == chosen.code)]
    labels = {p.code: p.label for p in m.periods}
    trend = lines(trend_rows, chosen, lambda r: labels.get(r.period, r.period))
    target = municipal.loc[chosen.code, "target"] if chosen.code in municipal.index else None
    target = None if target is None or pd.isna(target) else float(target)
    if request.GET.get("export") == "xlsx":
        return shown_as_xlsx(
            f"{m.name}: показатели наставничества, {period.label}",
            [(i.title, line) for i, line in headline],
            (f"{chosen.title}: по ОО", by_school),
            (f"{chosen.title}: по периодам", trend),
            f"показатели_{m.code}_{slug}_{chosen.code}.xlsx",
        )
    return render(
        request,
        "cabinet/indicators.html",
        {
            "m": m,
            "period": period,
            "slug": slug,
            "periods": [p for p in m.periods if p.code in set(rows["period"])],
            "headline": headline,
            "breakdowns": breakdowns,
            "chosen": chosen,
            "by_school": bars(by_school, target),
            "trend": bars(trend, target),
            "figures": figures,
            "data_as_of": here["data_as_of"].max() if len(here) else None,
        },
    )


@require_safe
@roles(*STAFF)
def impact_fragment(request, account, school_id, slug):
    """What the school's latest version changes in the municipality's published figures, and in the school's own:
    from (without it: returned, or never sent) to (as published). Loaded into the return's page."""
    m, school = school_for(account, school_id)
    period = period_of(m, slug)
    latest = school_state(m, school, period).latest
    try:
        found = impact_of(m.code, period.code, latest.sha256) if latest and latest.sha256 else None
    except FiguresAway as exc:
        return render(request, "cabinet/impact.html", {"away": str(exc)})
    rows = [
        (
            BY_CODE[c.indicator],
            "муниципалитет" if c.level is Level.MUNICIPALITY else "эта ОО",
            printed(c.before, BY_CODE[c.indicator].unit),
            printed(c.after, BY_CODE[c.indicator].unit),
            c.figure_id,
        )
        for c in (found.changes if found else [])
    ]
    return render(request, "cabinet/impact.html", {"found": found, "rows": rows, "school": school})


@require_safe
@roles(Role.REGION, Role.ADMIN)
def region_indicators(request, account, region):
    munis = [m for m in municipalities_for(account) if m.region == region]
    if not munis:
        raise Http404("нет такого региона")
    chosen = indicator_of(request.GET.get("indicator"))
    try:
        figures = published([m.code for m in munis], [Level.MUNICIPALITY.value])
    except FiguresAway as exc:
        return away(request, exc)
    rows = figures.rows[figures.rows["indicator"] == chosen.code]
    found = []
    for m in munis:  # each municipality's newest period with a published summary, else its current one
        own = rows[rows["municipality"] == m.code]
        periods = [
            p for p in sorted(m.periods, key=lambda p: p.end, reverse=True) if p.code in set(own["period"])
        ]
        period = periods[0] if periods else current_period(m)
        picked = own[own["period"] == period.code]
        label = f"{m.name} ({period.label})"
        found += lines(picked, chosen, lambda r, label=label: label) or [
            Line(label, "", "сводка не выпущена", None, "", None)
        ]
    if request.GET.get("export") == "xlsx":
        return shown_as_xlsx(
            f"{settings.WORKSPACE.reference.regions[region]}: {chosen.title}",
            [],
            (f"{chosen.title}: по муниципалитетам", found),
            None,
            f"показатели_{region}_{chosen.code}.xlsx",
        )
    return render(
        request,
        "cabinet/region_indicators.html",
        {
            "region": region,
            "region_name": settings.WORKSPACE.reference.regions[region],
            "headlines": HEADLINES,
            "chosen": chosen,
            "by_municipality": bars(found),
            "figures": figures,
        },
    )


@require_safe
@roles(Role.METHODIST, Role.REGION, Role.ADMIN)
def figure_page(request, account, figure_id):
    """Where a figure came from: its formula, numerator and denominator, and the cells of the ОО files behind
    it (hash, version, sheet, cell). A region sees how a municipal or regional figure is made, not the schools'
    cells."""
    try:
        traced, municipality = trace(figure_id)
    except NotAFigure as exc:
        raise Http404(str(exc)) from exc
    except FiguresAway as exc:
        return away(request, exc)
    if traced["value"] is None and not traced["sources"]:
        raise Http404("такого показателя нет")
    region_view = account.role == Role.REGION
    if region_view:
        allowed = {m.code for m in municipalities_for(account)} | {
            m.region for m in municipalities_for(account)
        }
        if traced["level"] == Level.SCHOOL.value or (municipality or traced["entity"]) not in allowed:
            raise Http404("такого показателя нет")
    elif municipality is None:
        raise Http404("такого показателя нет")  # a regional figure: the region's page shows it
    else:
        staff_municipality(account, municipality)
    indicator = BY_CODE[traced["indicator"]]
    return render(
        request,
        "cabinet/figure.html",
        {
            "traced": traced,
            "indicator": indicator,
            "value": traced["value"]
            if traced.get("hidden")
            else shown(traced["value"], None, indicator.unit),
            "sources": [] if region_view else traced["sources"],
            "region_view": region_view,
            "of": entity_name(traced["level"], traced["entity"]),
            "period_label": period_label(municipality, traced["period"]),
            "numerator": number(traced["numerator"]),
            "denominator": number(traced["denominator"]),
        },
    )


FIGURE_COLUMNS = ["Показатель", "Значение", "Цель", "Достигнута"]


def shown_as_xlsx(
    title: str,
    headline: list[tuple[str, Line | None]],
    listed: tuple[str, list[Line]],
    trend: tuple[str, list[Line]] | None,
    filename: str,
):
    """What an indicators page shows, as a workbook: the headline figures, the chosen one listed (by ОО or by
    municipality) and its trend, each value as the page prints it (a hidden one by its mark)."""

    def met(line: Line) -> str:
        return "" if line.met is None else "да" if line.met else "нет"

    rows = [("title", [title])]
    if headline:
        rows += [("head", FIGURE_COLUMNS)] + [
            ("plain", [what, line.text, line.target, met(line)] if line else [what, "нет"])
            for what, line in headline
        ]
        rows.append(("plain", []))
    for section in [listed, trend] if trend else [listed]:
        heading, found = section
        rows += [("bold", [heading]), ("head", ["", *FIGURE_COLUMNS[1:]])]
        rows += [("plain", [line.label, line.text, line.target, met(line)]) for line in found]
        rows.append(("plain", []))
    return xlsx_download(rows, "Показатели", [60, 14, 16, 12], filename)


def entity_name(level: str, entity: str) -> str:
    """Whose figure it is, in words: the ОО, the municipality or the region."""
    ref = settings.WORKSPACE.reference
    if level == Level.SCHOOL.value:
        home = ref.school_home(entity)
        return home.school(entity).name if home else entity
    if level == Level.MUNICIPALITY.value:
        return ref.municipalities[entity].name if entity in ref.municipalities else entity
    return ref.regions.get(entity, entity)


def period_label(municipality: str | None, code: str) -> str:
    m = settings.WORKSPACE.reference.municipalities.get(municipality or "")
    found = next((p for p in m.periods if p.code == code), None) if m else None
    return found.label if found else f"период {code}"


def number(value) -> str:
    """A numerator or denominator as people write it: whole numbers without «,0», the mark of a hidden one."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}".replace(",", " ")
    return str(value).replace(".", ",")
