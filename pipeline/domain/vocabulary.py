"""The words svod's records are made of: verdicts, severities and levels, each with its Russian label.

Every module that stores, compares or shows one of these values takes it from here, so a verdict string or a
level name is written once in Python. Values stay plain strings (StrEnum) because they are stored in DuckDB and
compared with what it returns. Catalogue facts about the workbook (sheet keys, status values) live in
`contracts/catalogue.yaml`, not here.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """Where a received file stands: waiting, held behind an approval, or checked with a verdict."""

    PENDING = "pending"
    HELD = "held"
    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"

    @property
    def ru(self) -> str:
        return _VERDICT_RU[self]

    @property
    def loads(self) -> bool:
        """Whether a return with this verdict has its facts in the warehouse."""
        return self in ACCEPTED_VERDICTS


_VERDICT_RU = {
    Verdict.PENDING: "в очереди на проверку",
    Verdict.HELD: "отложен (отчёт уже утверждён)",
    Verdict.ACCEPTED: "принят",
    Verdict.ACCEPTED_WITH_WARNINGS: "принят с предупреждениями",
    Verdict.REJECTED: "не принят",
}
ACCEPTED_VERDICTS = (Verdict.ACCEPTED, Verdict.ACCEPTED_WITH_WARNINGS)
CHECKED_VERDICTS = (*ACCEPTED_VERDICTS, Verdict.REJECTED)
WAITING_VERDICTS = (Verdict.PENDING, Verdict.HELD)
NOT_SENT = "не сдан"  # an ОО of the registry with no file for the period


def sql_list(verdicts) -> str:
    """A verdict tuple as an SQL list literal, for queries that filter on it."""
    return "(" + ", ".join(f"'{v.value}'" for v in verdicts) + ")"


class Severity(StrEnum):
    """An error blocks acceptance of the file; a warning does not."""

    ERROR = "error"
    WARNING = "warning"

    @property
    def ru(self) -> str:
        return "ошибка" if self is Severity.ERROR else "предупреждение"


class Level(StrEnum):
    """Where a figure is published: for one ОО, a municipality or a region."""

    SCHOOL = "school"
    MUNICIPALITY = "municipality"
    REGION = "region"

    @property
    def ru(self) -> str:
        return {Level.SCHOOL: "ОО", Level.MUNICIPALITY: "МО", Level.REGION: "регион"}[self]
