"""What every rule function receives: one parsed return with the reference facts its checks need.

A `Context` wraps the parsed book (typed records with their Excel rows and column letters), the municipality and
period it reports on, and the day it arrived. `at()` turns a rule code and a place into an `Issue` with the
cell's address. Helpers shared by several rule families live here too; nothing here decides a rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from contracts.catalogue import load_catalogue
from pipeline.domain.figures import is_active
from pipeline.domain.issues import Issue
from pipeline.reference import Municipality, Period
from pipeline.xlsx.reader import TYPING_RULE, ParsedBook

TYPING_RULES = set(TYPING_RULE.values())


class Context:
    """A parsed return with the municipality, period and arrival day it is checked against."""

    def __init__(self, book: ParsedBook, municipality: Municipality, period: Period, received: date):
        self.book, self.m, self.period, self.received = book, municipality, period, received
        self.catalogue = load_catalogue()
        self.refused: set[str] = set()  # IDs of people whose rows were dropped for lack of consent

    def rows(self, code: str) -> list[dict]:
        s = self.book.sheets.get(code)
        return s.records if s is not None else []

    def at(self, rule: str, sheet: str, row: int, column: str, **params) -> Issue:
        return self.book.sheets[sheet].at(rule, row, column, **params)

    def meta(self, code: str):
        meta = self.rows("meta")
        return meta[0].get(code) if meta else None

    def status(self, name: str) -> str:
        return self.catalogue.status(name)

    def active_pairs(self) -> list[dict]:
        return [
            p
            for p in self.rows("pairs")
            if is_active(p["start_date"], p["actual_end_date"], self.period.start, self.period.end)
        ]

    def unreadable_rows(self, sheet: str, columns: tuple[str, ...]) -> set[int]:
        """Rows of a sheet where one of these cells held a value that could not be typed (a C03–C05 error)."""
        return {
            i.row
            for i in self.book.issues
            if i.sheet == sheet and i.column in columns and i.rule in TYPING_RULES
        }

    def ids(self, sheet: str) -> set:
        """The key values of a sheet (its key column from the catalogue)."""
        return set(self.book.column(sheet, self.catalogue.keys[sheet]))


def distinct(values: Iterable) -> set:
    return {v for v in values if v is not None}


def groups(records: list[dict], key: str) -> dict:
    """Records grouped by a column's value (blank keys left out), keys sorted."""
    found = defaultdict(list)
    for rec in records:
        if rec[key] is not None:
            found[rec[key]].append(rec)
    return dict(sorted(found.items()))
