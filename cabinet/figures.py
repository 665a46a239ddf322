"""The published figures as the cabinet shows them: read from the warehouse for a moment (one attempt; while a
run writes it, the last figures read are shown and the page says so), the same rows the summaries print (hidden
figures carry only their mark, §4), with targets, and laid out for the pages: a municipality's headline
indicators by period, one indicator by ОО or by municipality, and its trend across periods; and what one version
of a return changes in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.conf import settings
from django.core.cache import cache

from pipeline.domain.figures import FigureId, Unit
from pipeline.domain.indicators import BY_CODE, INDICATORS, Indicator
from pipeline.publish import lineage
from pipeline.publish.impact import Impact, impact
from pipeline.store import queries
from pipeline.store.warehouse import WarehouseBusy

KEPT_SECONDS = 24 * 3600  # figures read last are shown while a run writes the warehouse
HEADLINES = [i for i in INDICATORS if not i.breakdown]
OPERATORS = {">=": "не менее", "<=": "не более"}  # a target's comparison, as the roadmaps word it


class FiguresAway(RuntimeError):
    """The warehouse cannot be read now and nothing was read before; the message is for people."""


@dataclass(frozen=True)
class Figures:
    rows: pd.DataFrame
    read_at: datetime
    fresh: bool  # read now, not kept from an earlier read while a run writes


def published(municipalities: list[str], levels: list[str]) -> Figures:
    """The published figures of these municipalities at these levels, every period."""
    key = f"figures:{','.join(sorted(municipalities))}:{','.join(sorted(levels))}"
    ws = settings.WORKSPACE
    try:
        if not ws.database.exists():
            raise WarehouseBusy("no warehouse yet")
        with ws.connect(read_only=True, wait=0) as con:
            rows = queries.published_indicators(con, municipalities, levels)
    except WarehouseBusy as exc:
        kept = cache.get(key)
        if kept is None:
            raise FiguresAway(
                "Показатели ещё не выпущены или сейчас идёт свод: откройте страницу через минуту."
                if ws.database.exists()
                else "Показатели ещё не выпущены: их покажет первый свод."
            ) from exc
        return Figures(kept[0], kept[1], False)
    rows = rows.drop_duplicates("figure_id")  # a municipality's own target and the common one: its own first
    read_at = datetime.now()
    cache.set(key, (rows, read_at), KEPT_SECONDS)
    return Figures(rows, read_at, True)


def shown(value, hidden, unit: Unit) -> str:
    """A figure as a page prints it: the mark of a hidden one, «—» where there is nothing, a count whole, a
    percentage or mean with one decimal (a comma, as Russian writes it)."""
    if isinstance(hidden, str) and hidden:
        return hidden
    if value is None or pd.isna(value):
        return "—"
    if unit is Unit.COUNT:
        return f"{value:,.0f}".replace(",", " ")
    text = f"{value:.1f}".replace(".", ",")
    return f"{text} %" if unit is Unit.PERCENT else text


def printed(value: float | str | None, unit: Unit) -> str:
    """A figure in its shown form (`Figure.shown`: a number, or the mark of a hidden one) as a page prints it."""
    return value if isinstance(value, str) else shown(value, None, unit)


@dataclass(frozen=True)
class Line:
    """One figure on a page: what it is of, its value as printed, its target, and the figure to trace."""

    label: str
    figure_id: str
    text: str
    value: float | None  # None when hidden or empty: no bar is drawn
    target: str
    met: bool | None


def lines(rows: pd.DataFrame, indicator: Indicator, label) -> list[Line]:
    return [
        Line(
            label(r),
            r.figure_id,
            shown(r.value, r.hidden, indicator.unit),
            None if (isinstance(r.hidden, str) and r.hidden) or pd.isna(r.value) else float(r.value),
            ""
            if pd.isna(r.target)
            else f"{OPERATORS.get(r.op, r.op)} {shown(r.target, None, indicator.unit)}",
            None if pd.isna(r.met) else bool(r.met),
        )
        for r in rows.itertuples()
    ]


def indicator_of(code: str | None) -> Indicator:
    return BY_CODE.get(code or "", HEADLINES[0])


def bars(found: list[Line], target: float | None = None) -> dict:
    """The chart of a list of figures: each bar's length as a share of the largest (of the values and the
    target), and where the target falls."""
    top = max([line.value for line in found if line.value is not None] + [target or 0, 0]) or 1
    return {
        "bars": [(line, None if line.value is None else round(100 * line.value / top, 1)) for line in found],
        "target": None if target is None else round(100 * target / top, 1),
    }


def trace(figure_id: str) -> tuple[dict, str | None]:
    """A figure's lineage (`pipeline.publish.lineage.trace`) and the municipality whose run published it."""
    try:
        fid = FigureId.parse(figure_id)
    except ValueError as exc:
        raise lineage.NotAFigure("Такого показателя нет.") from exc
    ws = settings.WORKSPACE
    try:
        with ws.connect(read_only=True, wait=0) as con:
            return lineage.trace(con, fid), queries.figure_run_municipality(con, fid.run_id)
    except WarehouseBusy as exc:
        raise FiguresAway("Сейчас идёт свод: откройте происхождение показателя через минуту.") from exc


def impact_of(municipality: str, period: str, sha256: str) -> Impact:
    """What a version changes in the published figures (`pipeline.publish.impact`), read for a moment."""
    ws = settings.WORKSPACE
    try:
        with ws.connect(read_only=True, wait=0) as con:
            return impact(con, ws.reference, municipality, period, sha256)
    except WarehouseBusy as exc:
        raise FiguresAway("Сейчас идёт свод: влияние версии на показатели будет видно через минуту.") from exc
