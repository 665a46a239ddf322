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


class Decision(StrEnum):
    """What staff decide about a school's return for a period. Each is recorded where it is made (the cabinet,
    the CLI) and applied to the warehouse by the next run of the partition (`pipeline.intake.decisions`)."""

    ACCEPT = "accept"  # accepted by the methodist (also undoes a return)
    RETURN = "return"  # returned for correction: not counted until a new version is accepted
    APPROVE = "approve"  # locked: later versions wait until unlocked
    UNAPPROVE = "unapprove"
    EXTEND = "extend"  # a later deadline for this ОО (the cabinet's; the warehouse does not need it)

    @property
    def ru(self) -> str:
        return _DECISION_RU[self]


_DECISION_RU = {
    Decision.ACCEPT: "принят методистом",
    Decision.RETURN: "возвращён на доработку",
    Decision.APPROVE: "утверждён",
    Decision.UNAPPROVE: "утверждение снято",
    Decision.EXTEND: "срок продлён",
}


class Status(StrEnum):
    """Where a school's return for a period stands, as staff and the school read it: the latest version's
    verdict and the decisions on it. The board orders by `rank` (problems first)."""

    REJECTED = "rejected"
    RETURNED = "returned"
    NOT_SENT = "not_sent"
    PENDING = "pending"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    ACCEPTED = "accepted"
    APPROVED = "approved"

    @property
    def ru(self) -> str:
        return _STATUS_RU[self]

    @property
    def rank(self) -> int:
        return list(Status).index(self)

    @property
    def done(self) -> bool:
        """Accepted or approved: counted in the summary, nothing more is due."""
        return self in (Status.ACCEPTED_WITH_WARNINGS, Status.ACCEPTED, Status.APPROVED)


_STATUS_RU = {
    Status.REJECTED: "не принят",
    Status.RETURNED: "возвращён на доработку",
    Status.NOT_SENT: NOT_SENT,
    Status.PENDING: "ожидает проверки",
    Status.ACCEPTED_WITH_WARNINGS: "принят с предупреждениями",
    Status.ACCEPTED: "принят",
    Status.APPROVED: "утверждён",
}


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
