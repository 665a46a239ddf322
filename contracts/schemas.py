"""pandera schemas for the typed sheet frames, generated from the catalogue.

Each check is named by its rule code, so a pandera failure maps straight back to a catalogue rule and its
Russian text (`rule_of`, which also maps pandera's own not-null check). Frames arrive already typed by
`pipeline.xlsx.reader` (which keeps every cell's address); pandera checks values, not spellings. Conditional and
cross-sheet rules live in `pipeline.rules`.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from contracts.catalogue import Column, load_catalogue

DTYPES = {"int": "Int64", "decimal": "Float64", "date": "datetime64[ns]"}
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"


def _checks(column: Column) -> list[pa.Check]:
    """Vectorised checks, each named by the rule code it enforces (pandera reports a failure under that name)."""
    checks = []
    if column.values and column.type == "enum":
        allowed = column.values
        checks.append(pa.Check(lambda s: s.isin(allowed), name="C06"))
    if column.values and column.type == "multi-enum":
        members = set(column.values)
        checks.append(
            pa.Check(lambda v: all(x in members for x in v.split("; ")), element_wise=True, name="C06")
        )
    if column.min is not None or column.max is not None:
        lo = column.min if column.min is not None else float("-inf")
        hi = column.max if column.max is not None else float("inf")
        checks.append(pa.Check(lambda s: s.between(lo, hi), name="C07"))
    if column.pattern:
        pattern = column.pattern
        checks.append(pa.Check(lambda s: s.astype(str).str.match(pattern), name="C08"))
    if column.type == "url":
        checks.append(pa.Check(lambda s: s.astype(str).str.match(URL_PATTERN), name="C09"))
    if column.max_len:
        limit = column.max_len
        checks.append(pa.Check(lambda s: s.astype(str).str.len() <= limit, name="C10"))
    return checks


CORE_CHECKS = {"not_nullable": "C01"}  # pandera's own checks (not ours, so not named by us) -> rule code


def rule_of(check: str) -> str | None:
    """The rule code a pandera failure case reports: our checks carry it as their name."""
    name = str(check)
    return name if name in load_catalogue().rules else CORE_CHECKS.get(name)


@cache
def sheet_schema(sheet_code: str) -> pa.DataFrameSchema:
    """The schema of one sheet's typed frame; index = the Excel row number of each record."""
    sheet = load_catalogue().sheet(sheet_code)
    return pa.DataFrameSchema(
        {
            c.code: pa.Column(
                DTYPES.get(c.type, "object"),
                checks=_checks(c),
                nullable=c.required != "Y",
                required=True,
                title=c.label,
                description=c.check_text or c.label,
            )
            for c in sheet.columns
        },
        name=sheet.code,
        title=sheet.title,
        strict=True,
        ordered=False,
    )


def typed_frame(sheet_code: str, values: dict[str, list], index: list | None = None) -> pd.DataFrame:
    """The DataFrame pandera validates, from column lists of typed Python values (None = blank)."""
    sheet = load_catalogue().sheet(sheet_code)
    n = len(next(iter(values.values()), []))
    columns = {}
    for c in sheet.columns:
        data = values.get(c.code, [None] * n)
        dtype = DTYPES.get(c.type, "object")
        if dtype.startswith("datetime"):
            columns[c.code] = (
                pd.to_datetime(pd.Series(data, dtype=object), errors="coerce").astype(dtype).array
            )
        elif dtype == "object":
            columns[c.code] = np.array(data, dtype=object) if n else np.empty(0, dtype=object)
        else:
            columns[c.code] = pd.array(data, dtype=dtype)
    return pd.DataFrame(columns, index=pd.Index(index if index is not None else range(n), dtype="int64"))


@cache
def prepare() -> None:
    """Build every sheet's schema and validate it once on an empty frame: pandera loads its backends on first use,
    which belongs to start-up rather than to the first batch of returns."""
    if importlib.util.find_spec("geopandas") is None:  # pandera tries to import it on every dtype check
        sys.modules.setdefault("geopandas", None)
    # pandera's own notice about a pandas concat it does when collecting failure cases: nothing for us to act on
    warnings.filterwarnings(
        "ignore", category=FutureWarning, module="pandera.backends.pandas.error_formatters"
    )
    for sheet in load_catalogue().sheets:
        sheet_schema(sheet.code).validate(
            typed_frame(sheet.code, {c.code: [] for c in sheet.columns}), lazy=True
        )
