"""Checking the load after the fact: do the fact tables hold exactly the rows of the returns they came from?

Two comparisons that can each fail: every current return's fact rows against the rows it was loaded with, and,
for a sample of the most recent returns, the fact rows of each sheet against the rows read again from the
archived bytes (less the rows dropped for lack of consent, C12). Used by the blocking check `rows_reconcile`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.store import queries
from pipeline.xlsx.reader import read_workbook

REREAD_SAMPLE = 25  # returns read again from the archive per check (the newest first)
MISMATCH_COLUMNS = ["sha256", "school_id", "sheet", "expected", "fact_rows"]


def load_mismatches(
    con, home: Path, municipality: str, period: str, sample: int = REREAD_SAMPLE
) -> pd.DataFrame:
    """Every (return, sheet) whose fact rows differ from what was loaded or from the archived file; empty if none."""
    current = queries.current_with_files(con, municipality, period)
    counts = queries.fact_counts(con, list(current["sha256"]))
    per_return = counts.groupby("sha256")["n"].sum()
    found = [
        [sha, school, "все листы", int(loaded), int(per_return.get(sha, 0))]
        for sha, school, loaded in zip(
            current["sha256"], current["school_id"], current["rows_loaded"], strict=True
        )
        if int(per_return.get(sha, 0)) != int(loaded)
    ]
    dropped = dict(
        ((sha, sheet), n)
        for sha, sheet, n in queries.rows_dropped_without_consent(con, list(current["sha256"][:sample]))
    )
    stored = {
        (sha, sheet): n for sha, sheet, n in zip(counts["sha256"], counts["sheet"], counts["n"], strict=True)
    }
    titles = {s.code: s.title for s in load_catalogue().sheets}
    for sha, school, path in zip(
        current["sha256"][:sample], current["school_id"], current["archive_path"], strict=False
    ):
        book = read_workbook(home / path)
        for code, sheet in book.sheets.items():
            expected = len(sheet) - dropped.get((sha, code), 0)
            if expected != stored.get((sha, code), 0):
                found.append([sha, school, titles[code], expected, stored.get((sha, code), 0)])
    return pd.DataFrame(found, columns=MISMATCH_COLUMNS)
