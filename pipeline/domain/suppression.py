"""Which published figures are hidden, and what is printed instead (domain.md §3 I15, §4 п.2).

Decided once, where a run's figures are computed (`suppress`), and carried by each figure (`Figure.hidden`,
stored in the warehouse's `figure.hidden`): every sheet, lineage row, trend, chart, command, view and page prints
`Figure.shown` and, for a hidden figure, `HIDDEN_PART` for its numerator and denominator.

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
    """The people a rule protects in one figure: how many, the fewest that may be shown, the mark otherwise."""

    base: float
    fewest: int
    mark: str

    @property
    def small(self) -> bool:
        return 0 < self.base < self.fewest


def protected(ind: Indicator, figure: Figure, audience: Level) -> Rule | None:
    """The rule that protects the people behind `figure` for readers at `audience`, or None where none applies."""
    if ind.respondents:
        return Rule(_respondents(ind, figure), MIN_RESPONDENTS, FEW_RESPONDENTS)
    if audience is Level.REGION and ind.counts_people:
        return Rule(float(figure.numerator or 0), SMALL_COUNT, FEW_PEOPLE)
    return None


def lineage_values(shown, numerator, denominator, hidden: str | None) -> list:
    """[value, numerator, denominator] as a lineage row prints them: no numbers behind a hidden figure."""
    if hidden:
        return [shown, HIDDEN_PART, HIDDEN_PART]
    return [shown, numerator, denominator]


def suppress(figures: list[Figure], audience: Level) -> list[Figure]:
    """`figures` of one publication (the ОО and their municipality, or municipalities and their region) with
    `hidden` set for readers at `audience`: what was hidden before stays hidden, then the primary rules, then
    complementary suppression until nothing small can be recovered."""
    hidden: dict[tuple[str, str], str] = {}
    for f in figures:
        rule = protected(BY_CODE[f.indicator], f, audience)
        if f.hidden or (rule and rule.small):
            hidden[(f.indicator, f.entity)] = f.hidden or rule.mark
    groups = _groups(figures)
    while True:  # hiding a part of one group can leave another's hidden parts small: until nothing changes
        before = len(hidden)
        for whole, parts in groups:
            _complement(whole, parts, hidden, audience)
        if len(hidden) == before:
            return [
                f if (mark := hidden.get((f.indicator, f.entity))) == f.hidden else replace(f, hidden=mark)
                for f in figures
            ]


def _groups(figures: list[Figure]) -> list[tuple[Figure, list[Figure]]]:
    """(a total, the figures it adds up): for each indicator, its figure at the top level over those below; for
    each headline of one entity, its breakdown where their bases add up to its own."""
    groups, by_indicator = [], {}
    for f in figures:
        by_indicator.setdefault(f.indicator, []).append(f)
    for group in by_indicator.values():
        top = max(_LEVELS.index(f.level) for f in group)
        wholes = [f for f in group if _LEVELS.index(f.level) == top]
        parts = [f for f in group if _LEVELS.index(f.level) < top]
        if len(wholes) == 1 and parts:
            groups.append((wholes[0], parts))
    by_key = {(f.indicator, f.entity): f for f in figures}
    breakdowns: dict[tuple[str, str], list[Figure]] = {}
    for f in figures:
        headline = (BY_CODE[f.indicator].part_of, f.entity)
        if headline in by_key:
            breakdowns.setdefault(headline, []).append(f)
    groups += [(by_key[key], parts) for key, parts in breakdowns.items() if _adds_up(by_key[key], parts)]
    return groups


def _adds_up(whole: Figure, parts: list[Figure]) -> bool:
    """Whether a breakdown's bases (respondents) sum to its headline's, so that one can be taken from the other."""
    ind = BY_CODE[whole.indicator]
    return abs(sum(_respondents(ind, p) for p in parts) - _respondents(ind, whole)) < 1e-9


def _respondents(ind: Indicator, figure: Figure) -> float:
    return float((figure.denominator if ind.respondents == "denominator" else figure.numerator) or 0)


def _complement(whole: Figure, parts: list[Figure], hidden: dict, audience: Level) -> None:
    """Hide more of `parts` (the smallest shown first), or else `whole`, until the parts hidden under a shown
    `whole` hold no small number of people. The extra ones are marked HIDDEN_PART: their own base is not small."""
    rules = {(p.indicator, p.entity): protected(BY_CODE[p.indicator], p, audience) for p in parts}
    if None in rules.values():
        return
    while (whole.indicator, whole.entity) not in hidden:
        under = Rule(
            sum(r.base for key, r in rules.items() if key in hidden), next(iter(rules.values())).fewest, ""
        )
        if not under.small:
            return
        shown = sorted((r.base, key) for key, r in rules.items() if key not in hidden and r.base > 0)
        hidden[shown[0][1] if shown else (whole.indicator, whole.entity)] = HIDDEN_PART
