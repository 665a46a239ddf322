"""Helpers the tests share: checking one file as the pipeline does, and books built from plain records."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.config import Workspace
from pipeline.intake.examine import Previous, check_file
from pipeline.intake.records import CheckResult


def check_return(
    path: Path,
    ws: Workspace,
    received_at: datetime,
    original_name: str | None = None,
    previous_for: Previous | None = None,
) -> CheckResult:
    """Every check of one file with the workspace's key, as the intake runs them."""
    return check_file(path, ws.issuer, received_at, original_name, previous_for)


def stacked_facts(book, school_id: str, versions: list[tuple[int, bool]] = ((0, True),), sha: str = "sha"):
    """One checked book as `return_figures` sees a run's facts: (frames by sheet, with the intake journal of
    `versions` as (errors, on time) oldest first; column letters)."""
    import pandas as pd

    from pipeline.domain.indicators import INTAKE

    frames = {
        k: v.frame.rename_axis("src_row").reset_index().assign(sha256=sha, school_id=school_id)
        for k, v in book.sheets.items()
    }
    frames[INTAKE] = pd.DataFrame(
        [
            {
                "sha256": sha,
                "school_id": school_id,
                "src_row": n,
                "version": n,
                "current": n == len(versions),
                "on_time": versions[-1][1],
                "errors": errors,
            }
            for n, (errors, _) in enumerate(versions, start=1)
        ]
    )
    letters = pd.DataFrame(
        [
            {"sha256": sha, "sheet": k, "code": c, "letter": letter}
            for k, v in book.sheets.items()
            for c, letter in v.letters.items()
        ]
    )
    return frames, letters
