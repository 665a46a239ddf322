"""Published figures and the arithmetic every level shares: the figure id, the share formula, aggregation upwards
and the «pair works in the period» rule (domain.md §2.0, §3).

Pure: no files, DuckDB or Dagster. A figure carries its numerator and denominator, never only a percentage, so
a municipality's or a region's share is Σnumerator / Σdenominator of the level below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

import pandas as pd

from pipeline.domain.vocabulary import Level

ID_SEPARATOR = "|"


@dataclass(frozen=True)
class FigureId:
    """indicator|level|entity|period|run: names one published figure of one run."""

    indicator: str
    level: Level
    entity: str
    period: str
    run_id: str = ""

    def format(self) -> str:
        return format_id(self.indicator, self.level, self.entity, self.period, self.run_id)

    @classmethod
    def parse(cls, text: str) -> FigureId:
        """Raises ValueError when `text` is not a figure id."""
        parts = str(text).split(ID_SEPARATOR)
        if len(parts) != 5 or not parts[0]:
            raise ValueError(f"not a figure id: {text!r}")
        return cls(parts[0], Level(parts[1]), parts[2], parts[3], parts[4])


def format_id(indicator: str, level: str, entity: str, period: str, run_id: str) -> str:
    """A figure id's text (`FigureId.format`), for columns of figures that have no object each."""
    return (
        f"{indicator}{ID_SEPARATOR}{level}{ID_SEPARATOR}{entity}{ID_SEPARATOR}{period}{ID_SEPARATOR}{run_id}"
    )


class Unit(StrEnum):
    """What a figure's value is: a count, a percentage of its denominator, or a mean (numerator per denominator:
    a weighted score, a load per mentor)."""

    COUNT = "count"
    PERCENT = "percent"
    MEAN = "mean"


def share(numerator: float, denominator: float | None, scale: int = 100) -> float | None:
    """A percentage (or, with `scale` 1, a mean) with one decimal; None where there is nothing to divide by."""
    if not denominator:
        return None
    return round(scale * numerator / denominator, 1)


def figure_value(unit: Unit, numerator: float, denominator: float | None) -> float | None:
    """A figure's value: a count is its numerator, a share or a mean is one decimal of their quotient."""
    if unit is Unit.COUNT:
        return numerator
    return share(numerator, denominator, 100 if unit is Unit.PERCENT else 1)


def shown_value(value: float | None, hidden: str | None) -> float | str | None:
    """A figure as every sheet, command, view and page prints it: the mark where it is hidden, else its value
    (None, not NaN, where there is none)."""
    return hidden or (None if value is None or value != value else value)


@dataclass(frozen=True)
class Figure:
    indicator: str
    level: Level
    entity: str
    period: str
    numerator: float
    denominator: float | None
    unit: Unit = Unit.COUNT
    largest: bool = False  # the numerator is a maximum: a level above takes the largest, not the sum
    hidden: str | None = None  # what is printed instead of it, its numerator and denominator (`suppression`)

    @property
    def is_share(self) -> bool:
        return self.unit is not Unit.COUNT

    @property
    def value(self) -> float | None:
        return figure_value(self.unit, self.numerator, self.denominator)

    @property
    def shown(self) -> float | str | None:
        """The value as every sheet, command, view and page prints it (`shown_value`)."""
        return shown_value(self.value, self.hidden)

    def id(self, run_id: str) -> str:
        return FigureId(self.indicator, self.level, self.entity, self.period, run_id).format()


def aggregate(figures: list[Figure], level: Level, entity: str, period: str) -> Figure:
    """One indicator's figures of the level below summed: Σnumerator, and Σdenominator for a share (a maximum
    takes the largest numerator)."""
    first = figures[0]
    dens = [f.denominator for f in figures if f.denominator is not None]
    numerators = [f.numerator for f in figures]
    return replace(
        first,
        level=level,
        entity=entity,
        period=period,
        hidden=None,
        numerator=max(numerators) if first.largest else sum(numerators),
        denominator=sum(dens) if first.is_share else None,
    )


def run_id_for(municipality: str, period: str, shas: list[str], catalogue: str, reference: str) -> str:
    """Deterministic: the same inputs give the same run id, so a past summary can be re-issued byte for byte."""
    basis = "|".join([municipality, period, catalogue, reference, *sorted(shas)])
    return hashlib.sha256(basis.encode()).hexdigest()[:12]


def is_active(start: date | None, actual_end: date | None, period_start: date, period_end: date) -> bool:
    """A pair works in the period: it started by the period's end and did not end before its start (§2.0)."""
    return start is not None and start <= period_end and (actual_end is None or actual_end >= period_start)


def active_mask(starts: pd.Series, actual_ends: pd.Series, period_start: date, period_end: date) -> pd.Series:
    """`is_active` over columns of start and actual end dates (blank = missing)."""
    started = pd.to_datetime(starts).le(pd.Timestamp(period_end))
    ended = pd.to_datetime(actual_ends)
    return started & (ended.isna() | ended.ge(pd.Timestamp(period_start)))
