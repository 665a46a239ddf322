"""The pandera contracts over a batch of returns, and their failures turned into issues at each return's cells.

Each sheet is validated once per batch (all returns' rows stacked), so pandera's fixed cost is paid per batch,
not per file. A failure names its rule by the check's name (`contracts.schemas.rule_of`); a cell that already
failed typing is not reported again.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pandera.pandas as pa

from contracts.catalogue import load_catalogue
from contracts.schemas import rule_of, sheet_schema, typed_frame
from pipeline.domain.issues import Issue
from pipeline.xlsx.reader import ParsedBook, stacked


def failures(sheet_code: str, values: dict[str, list]) -> list[tuple[int | None, str, str, object]]:
    """(position among the rows, column, rule code, failing value) of every contract failure of a sheet's rows."""
    try:
        frame = typed_frame(sheet_code, values)  # built to be validated: checked in place, not copied
        sheet_schema(sheet_code).validate(frame, lazy=True, inplace=True)
        return []
    except pa.errors.SchemaErrors as errors:
        return [
            (
                None if case.index is None or pd.isna(case.index) else int(case.index),
                case.column,
                rule_of(case.check) or str(case.check),
                case.failure_case,
            )
            for case in errors.failure_cases.itertuples()
        ]


def contract_issues(books: list[ParsedBook]) -> list[dict[str, list[Issue]]]:
    """pandera's lazy validation of each sheet over all `books` stacked, mapped back to each book's cells."""
    catalogue = load_catalogue()
    found: list[dict[str, list[Issue]]] = [defaultdict(list) for _ in books]
    typed_failures = [{(i.row, i.column) for i in book.issues if i.row} for book in books]
    for sheet in catalogue.sheets:
        owners = [
            (b, s)
            for b, book in enumerate(books)
            if (s := book.sheets.get(sheet.code)) is not None and len(s)
        ]
        if not owners:
            continue
        at = [(b, row) for b, s in owners for row in s.rows]
        for position, column, rule, _ in failures(
            sheet.code, {c.code: stacked([s for _, s in owners], c.code) for c in sheet.columns}
        ):
            if position is None or rule not in catalogue.rules:
                continue
            b, row = at[position]
            s = books[b].sheets[sheet.code]
            if column not in s.letters or (row, column) in typed_failures[b]:
                continue
            col = sheet.column(column)
            bounds = (
                f"{'' if col.min is None else f'{col.min:g}'}–{'' if col.max is None else f'{col.max:g}'}"
            )
            params = {
                "allowed": "; ".join(col.values)[:300],
                "bounds": bounds,
                "example": col.example,
                "max_len": col.max_len,
            }
            if rule == "C10":
                params["value"] = len(str(s.value(row, column)))
            found[b][sheet.code].append(s.at(rule, row, column, **params))
    return found


def loaded_failures(facts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Loaded fact rows (sheet -> frame with school_id and src_row) re-validated; one row per failing cell."""
    found = []
    for sheet in load_catalogue().sheets:
        frame = facts[sheet.code]
        if frame.empty:
            continue
        values = {
            c.code: frame[c.code].astype(object).where(frame[c.code].notna(), None).tolist()
            for c in sheet.columns
        }
        for position, column, rule, value in failures(sheet.code, values):
            row = None if position is None else frame.iloc[position]
            found.append(
                {
                    "sheet": sheet.code,
                    "school_id": None if row is None else row["school_id"],
                    "src_row": None if row is None else int(row["src_row"]),
                    "column": column,
                    "check": rule,
                    "value": str(value),
                }
            )
    return pd.DataFrame(found, columns=["sheet", "school_id", "src_row", "column", "check", "value"])
