"""The problem record shared by checks, feedback workbooks, receipts and the warehouse issues table.

An issue is a catalogue rule applied at one place: the rule gives code, severity and the Russian texts; the
check supplies the sheet, row, column, cell and the values that fill the message placeholders.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

from contracts.catalogue import load_catalogue
from pipeline.domain.vocabulary import Severity, Verdict


class Issue(BaseModel):
    rule: str
    severity: Severity
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    cell: str | None = None
    value: str | None = None
    message: str
    fix: str

    @property
    def where(self) -> str:
        if not self.sheet:
            return "файл"
        title = load_catalogue().sheet(self.sheet).title
        return f"{title}!{self.cell}" if self.cell else title


class _Blank(defaultdict):
    def __missing__(self, key):
        return "…"


def issue(rule: str, *, sheet=None, row=None, column=None, cell=None, severity=None, **params) -> Issue:
    """Build an issue from a catalogue rule; `params` fill the rule's message and fix templates."""
    r = load_catalogue().rules[rule]
    if column and sheet and "label" not in params:
        params["label"] = load_catalogue().sheet(sheet).column(column).label
    params.setdefault("row", row)
    fill = _Blank(str, {k: "" if v is None else str(v) for k, v in params.items()})
    return Issue(
        rule=rule,
        severity=severity or r.severity,
        sheet=sheet,
        row=row,
        column=column,
        cell=cell,
        value=None if params.get("value") is None else str(params["value"]),
        message=r.message.format_map(fill),
        fix=r.fix.format_map(fill),
    )


def verdict(issues: list[Issue]) -> Verdict:
    """Errors block acceptance, warnings do not."""
    if any(i.severity is Severity.ERROR for i in issues):
        return Verdict.REJECTED
    return Verdict.ACCEPTED_WITH_WARNINGS if issues else Verdict.ACCEPTED


def counts(issues: list[Issue]) -> tuple[int, int]:
    """(errors, warnings)."""
    errors = sum(i.severity is Severity.ERROR for i in issues)
    return errors, len(issues) - errors


WHOLE_FILE = "Файл целиком"


def by_sheet(issues: list[Issue]) -> list[tuple[str, list[Issue]]]:
    """Issues grouped by sheet in the workbook's order (problems of the whole file first), rows in order."""
    order = {s.code: n for n, s in enumerate(load_catalogue().sheets)}
    groups: dict[str | None, list[Issue]] = {}
    for i in sorted(issues, key=lambda i: (order.get(i.sheet, -1), i.row or 0, i.cell or "")):
        groups.setdefault(i.sheet, []).append(i)
    return [
        (load_catalogue().sheet(code).title if code else WHOLE_FILE, found) for code, found in groups.items()
    ]
