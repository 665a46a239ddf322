"""Every rule a returned workbook is checked against, one function per rule code, and the order they run in.

A return's own rules run in plain Python over its records, in the worker process that parsed it
(`check_book`). The pandera contracts run once per sheet over a batch (`contracts.contract_issues`), and the
history rules in the parent, which reads the previous period (`against_previous`). To add a rule: write its
function in the family module it belongs to, give its code Russian text in `contracts/rules.yaml`, register it
below, and add a failing and a passing example to `tests/test_rules.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue
from pipeline.reference import Municipality, Period
from pipeline.rules import dates, history, identity, ids, pairs, people, reports, rows
from pipeline.rules.context import Context
from pipeline.xlsx.reader import ParsedBook

BookRule = Callable[[Context], list[Issue]]
SheetRule = Callable[[Context, str], list[Issue]]
HistoryRule = Callable[[ParsedBook, dict[str, pd.DataFrame]], list[Issue]]

# whole-book rules that come first: whose return it is, and who may be in it (C12 drops rows the others must not see)
HEAD: dict[str, BookRule] = {
    "M06": identity.title_matches_identity,
    "M09": identity.director_confirmed,
    "M10": identity.submission_date_sane,
    "C12": rows.drop_without_consent,
}
PER_SHEET: dict[str, SheetRule] = {"C02": rows.required_if, "C11": rows.same_row_comparisons}
ACROSS_SHEETS: dict[str, BookRule] = {
    "X01": ids.unique_ids,
    "X02": ids.references_exist,
    "X03": pairs.form_fits,
    "X04": dates.dates_in_period,
    "X05": pairs.statuses_agree,
    "X06": people.within_profile,
    "X07": pairs.load_per_mentor,
    "X08": people.consent_in_pairs,
    "X08a": people.labour_code_paperwork,
    "X09": pairs.unit_composition,
    "X10": pairs.programme_running,
    "X11": reports.respondents_within_participants,
    "X12": reports.no_names_in_text,
    "X13": reports.roadmap_statuses,
    "X14": dates.on_time,
}
HISTORY: dict[str, HistoryRule] = {"X15": history.nothing_vanished, "P01": history.registries_plausible}
RULES = {**HEAD, **PER_SHEET, **ACROSS_SHEETS, **HISTORY}  # every rule code a function decides


@dataclass
class Checked:
    """A return's own issues, in the order a curator would fix them; contracts slot in per sheet."""

    head: list[Issue] = field(default_factory=list)  # identity, typing, title, consent
    by_sheet: dict[str, list[Issue]] = field(default_factory=dict)  # conditional and same-row rules
    tail: list[Issue] = field(default_factory=list)  # cross-sheet, timeliness, previous period

    def assemble(self, contracts: dict[str, list[Issue]] | None = None) -> list[Issue]:
        found = list(self.head)
        for sheet in load_catalogue().sheets:
            found += (contracts or {}).get(sheet.code, []) + self.by_sheet.get(sheet.code, [])
        return without_follow_ons(dedupe(found + self.tail))


def check_book(book: ParsedBook, m: Municipality, period: Period, received: date) -> Checked:
    """A return's own rules (everything but the contracts and the previous period); drops rows without consent."""
    ctx = Context(book, m, period, received)
    checked = Checked(head=list(book.issues))
    for rule in HEAD.values():
        checked.head += rule(ctx)
    checked.by_sheet = {
        sheet.code: [i for rule in PER_SHEET.values() for i in rule(ctx, sheet.code)]
        for sheet in ctx.catalogue.sheets
    }
    checked.tail = [i for rule in ACROSS_SHEETS.values() for i in rule(ctx)]
    return checked


def against_previous(book: ParsedBook, previous: dict[str, pd.DataFrame]) -> list[Issue]:
    """X15 and P01 against the school's last accepted registries of an earlier period."""
    return [i for rule in HISTORY.values() for i in rule(book, previous)]


EXPLAINING = {"C03", "C04", "C05", "C06"}  # a value that could not be typed, or is not on its list


def without_follow_ons(found: list[Issue]) -> list[Issue]:
    """One mistake, one message: a cell whose value could not be typed or is off its list (C03–C06) is not also
    reported as empty (C02). The other follow-ons are avoided by the rules themselves: X05 leaves people of a pair
    row with an unreadable date to the typing error, X03 leaves a form that is off the list to C06."""
    explained = {(i.sheet, i.row, i.column) for i in found if i.rule in EXPLAINING}
    return [i for i in found if not (i.rule == "C02" and (i.sheet, i.row, i.column) in explained)]


def dedupe(found: list[Issue]) -> list[Issue]:
    """The same rule, place and message reported twice (e.g. by two paths) is said once, in first-seen order."""
    unique: dict[tuple, Issue] = {}
    for i in found:
        unique.setdefault((i.rule, i.sheet, i.cell, i.message), i)
    return list(unique.values())
