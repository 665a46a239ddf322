"""Which published figures are hidden, and what is printed instead (domain.md §3 I15, §4 п.2).

Decided once, where a run's figures are computed (`hidden_marks` over a run's columns, or `suppress` over a list
of figures), and carried by each figure (`Figure.hidden`, stored in the warehouse's `figure.hidden`): every sheet,
lineage row, trend, chart, command, view and page prints the mark instead of the value and, for a hidden
figure, `HIDDEN_PART` for its numerator and denominator.

- A survey figure of fewer than MIN_RESPONDENTS respondents is hidden for everyone: its mean, share satisfied
  and response rate alike (`Indicator.respondents` names the part that counts them).
- A count of people under SMALL_COUNT is hidden from readers above the municipality (the regional workbook):
  the municipality sees its schools' people by name anyway (§4, table of levels).
- Complementary suppression: where a total is shown, the parts hidden under it must not add up to a small
  base that «total − visible parts» would reveal. The smallest visible part is hidden too, or the total where
  no part is left. Parts are the level below (ОО under the municipality, municipalities under the region) and a
  breakdown under its headline (`Indicator.part_of`) where their bases add up to the headline's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from pipeline.domain.figures import Figure
from pipeline.domain.indicators import BY_CODE, Indicator
from pipeline.domain.vocabulary import Level

MIN_RESPONDENTS = 5  # a survey figure of fewer respondents is not shown (§3 I15, §4 п.2: n ≥ 5)
SMALL_COUNT = 5  # a count of fewer people is not shown above the municipality (§4 п.2, guess)
FEW_RESPONDENTS = "< 5 ответов"
FEW_PEOPLE = "< 5"
HIDDEN_PART = "скрыто"  # printed for the numerator and the denominator of a hidden figure
_LEVELS = [Level.SCHOOL, Level.MUNICIPALITY, Level.REGION]


class Rule(NamedTuple):
    """What protects the people behind each figure of one indicator: the fewest that may be shown, the mark
    printed otherwise."""

    fewest: int
    mark: str


def protected(ind: Indicator, audience: Level) -> Rule | None:
    """The rule that protects the people behind `ind`'s figures for readers at `audience`, or None."""
    if ind.respondents:
        return Rule(MIN_RESPONDENTS, FEW_RESPONDENTS)
    if audience is Level.REGION and ind.counts_people:
        return Rule(SMALL_COUNT, FEW_PEOPLE)
    return None


def lineage_values(shown, numerator, denominator, hidden: str | None) -> list:
    """[value, numerator, denominator] as a lineage row prints them: no numbers behind a hidden figure."""
    if hidden:
        return [shown, HIDDEN_PART, HIDDEN_PART]
    return [shown, numerator, denominator]


def suppress(figures: list[Figure], audience: Level) -> list[Figure]:
    """`figures` of one publication (the ОО and their municipality, or municipalities and their region) with
    `hidden` set for readers at `audience` (`hidden_marks`)."""
    marks = hidden_marks(
        [f.indicator for f in figures],
        [f.level for f in figures],
        [f.entity for f in figures],
        [f.numerator for f in figures],
        [f.denominator for f in figures],
        [f.hidden for f in figures],
        audience,
    )
    return [
        f if mark == f.hidden else replace(f, hidden=mark) for f, mark in zip(figures, marks, strict=True)
    ]


def hidden_marks(
    indicators: list[str],
    levels: list[Level],
    entities: list[str],
    numerators: list[float],
    denominators: list[float | None],
    hidden: list[str | None],
    audience: Level,
) -> list[str | None]:
    """The mark of each figure of one publication, given as columns (one (indicator, entity) a figure): what
    was hidden before stays hidden, then the primary rules, then complementary suppression until nothing small
    can be recovered. Figures are positions here, so a run's 100,000 need no object each."""
    kinds = {code: BY_CODE[code] for code in set(indicators)}
    rules = {code: protected(ind, audience) for code, ind in kinds.items()}
    bases = [
        _base(kinds[code], num, den)
        for code, num, den in zip(indicators, numerators, denominators, strict=True)
    ]
    marks = list(hidden)
    for at, code in enumerate(indicators):
        rule = rules[code]
        if marks[at] is None and rule and 0 < bases[at] < rule.fewest:
            marks[at] = rule.mark
    groups = _groups(indicators, levels, entities, numerators, denominators, kinds)
    figures = _Positions(indicators, entities, bases, rules)
    while True:  # hiding a part of one group can leave another's hidden parts small: until nothing changes
        before = sum(m is not None for m in marks)
        for whole, parts in groups:
            _complement(whole, parts, marks, figures)
        if sum(m is not None for m in marks) == before:
            return marks


class _Positions(NamedTuple):
    indicators: list[str]
    entities: list[str]
    bases: list[float]
    rules: dict[str, Rule | None]


def _base(ind: Indicator, numerator: float | None, denominator: float | None) -> float:
    """The people a figure of `ind` counts: its respondents, or else its numerator."""
    return float((denominator if ind.respondents == "denominator" else numerator) or 0)


def _groups(indicators, levels, entities, numerators, denominators, kinds) -> list[tuple[int, list[int]]]:
    """(a total, the figures it adds up), as positions: for each indicator, its figure at the top level over
    those below; for each headline of one entity, its breakdown where their bases add up to its own."""
    groups: list[tuple[int, list[int]]] = []
    by_indicator: dict[str, list[int]] = {}
    for at, code in enumerate(indicators):
        by_indicator.setdefault(code, []).append(at)
    rank = {level: _LEVELS.index(level) for level in set(levels)}
    ranks = [rank[level] for level in levels]
    for group in by_indicator.values():
        top = max(ranks[at] for at in group)
        wholes = [at for at in group if ranks[at] == top]
        parts = [at for at in group if ranks[at] < top]
        if len(wholes) == 1 and parts:
            groups.append((wholes[0], parts))
    headlines = {kind.part_of for kind in kinds.values()} - {""}
    at_key = {
        (code, entity): at
        for at, (code, entity) in enumerate(zip(indicators, entities, strict=True))
        if code in headlines
    }
    breakdowns: dict[int, list[int]] = {}
    for at, (code, entity) in enumerate(zip(indicators, entities, strict=True)):
        whole = at_key.get((kinds[code].part_of, entity)) if kinds[code].part_of else None
        if whole is not None:
            breakdowns.setdefault(whole, []).append(at)
    for whole, parts in breakdowns.items():
        kind = kinds[indicators[whole]]  # the headline's respondents count its breakdown's too
        whole_base = _base(kind, numerators[whole], denominators[whole])
        if abs(sum(_base(kind, numerators[p], denominators[p]) for p in parts) - whole_base) < 1e-9:
            groups.append((whole, parts))
    return groups


def _complement(whole: int, parts: list[int], marks: list, figures: _Positions) -> None:
    """Hide more of `parts` (the smallest shown first), or else `whole`, until the parts hidden under a shown
    `whole` hold no small number of people. The extra ones are marked HIDDEN_PART: their own base is not small."""
    rules = [figures.rules[figures.indicators[p]] for p in parts]
    if None in rules or not any(marks[p] for p in parts):  # nothing hidden under it: nothing to recover
        return
    fewest = rules[0].fewest
    while marks[whole] is None:
        under = sum(figures.bases[p] for p in parts if marks[p] is not None)
        if not 0 < under < fewest:
            return
        shown = sorted(
            (figures.bases[p], figures.indicators[p], figures.entities[p], p)
            for p in parts
            if marks[p] is None and figures.bases[p] > 0
        )
        marks[shown[0][3] if shown else whole] = HIDDEN_PART
