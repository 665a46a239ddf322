"""The records a file becomes on its way in: `Received` once archived, `CheckResult` once checked.

Plain data that crosses process boundaries (workers pickle them back to the parent); no behaviour beyond
derived views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.domain.issues import Issue
from pipeline.domain.vocabulary import Verdict
from pipeline.rules import Checked
from pipeline.xlsx.reader import ParsedBook

Claim = tuple[str | None, str | None, str | None]  # (school, municipality, period) a file's identity names
NOT_CLAIMED: Claim = (None, None, None)


@dataclass
class Received:
    """An archived file: where its bytes are kept, under which name and when it came, what it claims to be."""

    stored: Path  # archive/<sha[:2]>/<sha256>.<ext>
    name: str
    received_at: datetime
    claimed: Claim = NOT_CLAIMED
    inbox: Path | None = None  # the inbox file it came from, removed once registered

    @property
    def sha256(self) -> str:
        return self.stored.stem


@dataclass
class CheckResult:
    sha256: str
    original_name: str
    received_at: datetime
    verdict: Verdict
    issues: list[Issue]
    source: Path | None = None  # the checked file (in the archive, or as given to `svod check`)
    book: ParsedBook | None = None
    municipality: str | None = None
    period: str | None = None
    school_id: str | None = None
    feedback: list[Path] = field(default_factory=list)
    annotation_failure: str | None = None  # why the annotated copy could not be made
    checked: Checked | None = None  # the return's own issues, until the batch's contracts are added

    @property
    def rows(self) -> dict[str, int]:
        if self.book is None:
            return {}
        return {s.title: len(s) for s in self.book.sheets.values() if len(s)}
