"""What changed between two versions of one school's return, defined once for every place that says it: the
receipt a school gets (by e-mail, from the inbox or in the cabinet) and the cabinet's page of a version.

A problem is the same problem in both versions when its sheet, cell and rule are; rows are counted per sheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.domain.issues import Issue


@dataclass(frozen=True)
class Version:
    """What is compared of a version: its problems, its rows per sheet (by title) and when it came."""

    issues: list[Issue]
    rows: dict[str, int]
    received_at: datetime


@dataclass(frozen=True)
class Changes:
    previous_at: datetime
    fixed: list[Issue]
    new: list[Issue]
    rows: list[
        tuple[str, int, int]
    ]  # (sheet title, rows before, rows now) for each sheet whose count changed

    @property
    def text(self) -> str:
        """The comparison in one line, as receipts print it."""
        parts = [f"исправлено замечаний: {len(self.fixed)}", f"новых замечаний: {len(self.new)}"]
        parts += [f"«{sheet}»: строк было {before}, стало {after}" for sheet, before, after in self.rows]
        return "; ".join(parts)


def issue_key(i: Issue) -> str:
    return f"{i.sheet or ''}|{i.cell or ''}|{i.rule}"


def changes(before: Version | None, issues: list[Issue], rows: dict[str, int]) -> Changes | None:
    """What a version changed against the one before it (None for a first version)."""
    if before is None:
        return None
    was, now = {issue_key(i): i for i in before.issues}, {issue_key(i): i for i in issues}
    return Changes(
        before.received_at,
        [i for k, i in was.items() if k not in now],
        [i for k, i in now.items() if k not in was],
        [
            (sheet, before.rows.get(sheet, 0), rows.get(sheet, 0))
            for sheet in dict.fromkeys([*before.rows, *rows])
            if before.rows.get(sheet, 0) != rows.get(sheet, 0)
        ],
    )
