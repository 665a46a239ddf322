"""Typing one cell's value as its catalogue column says, the Russian way: comma decimals, NBSP and apostrophe
thousands separators, dd.mm.yyyy dates and Excel serials, and the catalogue's accepted spellings of list values.

`converter` gives each column a fast converter (common cases short-cut, text spellings remembered); a value that
cannot be typed raises ValueError, which the reader turns into an issue at the cell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cache

from contracts.catalogue import Column, load_catalogue

_NUMBER_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_DATE_TEXT = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})(?:\s.*)?$")
_ISO_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_EXCEL_EPOCH = date(1899, 12, 30)


def show(value) -> str:
    """A typed value as a curator would type it (for messages)."""
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def text_of(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\u200b", "").replace("\u00a0", " ").strip()


def _number(value, integer: bool):
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        number = float(value)
    else:
        number = float(_NUMBER_SPACES.sub("", str(value)).replace(",", "."))
    if integer:
        if not number.is_integer():
            raise ValueError
        return int(number)
    return number


def _date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and 20000 < value < 80000:
        return _EXCEL_EPOCH + timedelta(days=int(value))
    text = text_of(value)
    if m := _DATE_TEXT.match(text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    if m := _ISO_TEXT.match(text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError


def convert(column: Column, value) -> tuple[object, bool]:
    """Typed value and whether a normalisation was needed; raises ValueError if the value cannot be typed."""
    if column.type == "int":
        return _number(value, True), isinstance(value, str)
    if column.type == "decimal":
        return _number(value, False), isinstance(value, str)
    if column.type == "date":
        return _date(value), not isinstance(value, date)
    text = text_of(value)
    if column.type == "enum" and column.values:
        canonical = column.canonical(text)
        return (canonical, canonical != text) if canonical else (text, False)
    if column.type in ("multi-enum", "multi-ref"):
        parts = [p.strip() for p in re.split(r"[;,\n]", text) if p.strip()]
        if column.type == "multi-enum":
            parts = [column.canonical(p) or p for p in parts]
        joined = "; ".join(parts)
        return joined, joined != text
    if column.type in ("id", "ref") and text != text.upper():
        return text.upper(), True
    return text, text != value


MEMO_LIMIT = 4096  # distinct spellings remembered per column


@cache
def converter(sheet: str, code: str) -> Callable[[object], tuple[object, bool]]:
    """`convert` for one catalogue column, with the common cases short-cut and text conversions remembered."""
    column = load_catalogue().sheet(sheet).column(code)
    if column.type == "int":

        def to_int(value):
            if type(value) is float and value.is_integer():
                return int(value), False
            return convert(column, value)

        return to_int
    if column.type == "decimal":
        return lambda value: (value, False) if type(value) is float else convert(column, value)
    if column.type == "date":
        return lambda value: (value.date(), False) if type(value) is datetime else convert(column, value)
    memo: dict[str, tuple[object, bool]] = {}

    def to_text(value):
        if type(value) is not str:  # a number or date in a text column: rare, not remembered
            return convert(column, value)
        found = memo.get(value)
        if found is None:
            found = convert(column, value)
            if len(memo) < MEMO_LIMIT:
                memo[value] = found
        return found

    return to_text
