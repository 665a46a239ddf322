"""Writing what intake found into the warehouse: files as received, and batches of checked returns with their
verdicts, versions, issues and facts (through Arrow, typed as `schema.sql` declares), one transaction each.

Versions and supersession follow arrival order: an accepted version supersedes the school's previous one for
the period. Reads are in `queries`; figures are stored by `pipeline.publish.compute`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from itertools import chain, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd
import pyarrow as pa

from contracts.catalogue import load_catalogue
from pipeline.domain.issues import Issue, counts
from pipeline.domain.versions import Version
from pipeline.domain.vocabulary import Verdict
from pipeline.reference import Reference
from pipeline.store.warehouse import arrow_schema, arrow_table, fact_table, insert_frame, transaction
from pipeline.xlsx.reader import stacked

if TYPE_CHECKING:
    from pipeline.intake.records import CheckResult, Received

SUBMISSION_COLUMNS = [
    "sha256",
    "school_id",
    "municipality",
    "period",
    "version",
    "verdict",
    "on_time",
    "template_version",
    "catalogue",
    "errors",
    "warnings",
    "rows_read",
    "rows_loaded",
    "normalised",
]
ISSUE_COLUMNS = ["sha256", "rule", "severity", "sheet", "src_row", "code", "cell", "value", "message", "fix"]


class DueAnswer(Protocol):
    """What the store keeps of an answer due to a school (`pipeline.feedback.Answer`): its key and its payload."""

    sha256: str
    kind: str
    school_id: str | None
    period: str | None
    version: int | None

    def model_dump_json(self) -> str: ...


# (checked return, its version, the school's version before it, if any)
AnswerOf = Callable[["CheckResult", int | None, Version | None], DueAnswer]


def register_received(con, home: Path, received: list[Received]) -> None:
    """Record archived files as received and pending under the return each claims to be (one transaction)."""
    if not received:
        return
    with transaction(con):
        insert_frame(
            con,
            "received_file",
            pd.DataFrame(
                [
                    {
                        "sha256": r.stored.stem,
                        "original_name": r.name,
                        "size": r.stored.stat().st_size,
                        "received_at": r.received_at,
                        "archive_path": str(r.stored.relative_to(home)),
                    }
                    for r in received
                ]
            ),
        )
        insert_frame(
            con,
            "submission",
            pd.DataFrame(
                [
                    {
                        "sha256": r.stored.stem,
                        "verdict": Verdict.PENDING.value,
                        "received_at": r.received_at,
                        "school_id": r.claimed[0],
                        "municipality": r.claimed[1],
                        "period": r.claimed[2],
                    }
                    for r in received
                ]
            ),
        )


def fact_arrow(con, sheet, parts: list[tuple[str, object]]) -> pa.Table:
    """One sheet's rows of many returns as an Arrow table for its fact table: (sha256, parsed sheet) pairs, typed as
    the fact table's columns are."""
    sheets, types = [s for _, s in parts], arrow_schema(con, fact_table(sheet.code))
    columns = {
        "sha256": pa.array(list(chain.from_iterable(repeat(sha, len(s)) for sha, s in parts)), pa.string()),
        "src_row": pa.array(list(chain.from_iterable(s.rows for s in sheets)), pa.int32()),
    }
    for c in sheet.columns:
        columns[c.code] = pa.array(stacked(sheets, c.code), types.field(c.code).type)
    return pa.table(columns)


def letters_arrow(parts: list[tuple[str, dict]]) -> pa.Table:
    """The column letter of every column of every sheet of many returns, for src_column: (sha256, sheets) pairs."""
    shas, sheets, codes, letters = [], [], [], []
    for sha, parsed in parts:
        for code, s in parsed.items():
            shas += repeat(sha, len(s.letters))
            sheets += repeat(code, len(s.letters))
            codes += s.letters.keys()
            letters += s.letters.values()
    return pa.table(
        {"sha256": shas, "sheet": sheets, "code": codes, "letter": letters},
        schema=pa.schema([(name, pa.string()) for name in ("sha256", "sheet", "code", "letter")]),
    )


def load_results(con, ref: Reference, results: list[CheckResult], answer_of: AnswerOf) -> list[DueAnswer]:
    """Store a batch of checked returns in one transaction, in arrival order: versions per school and period,
    verdicts, issues, the facts of every accepted return (through Arrow) and the answer due to each school
    (`answer_of`, given what the load found). An accepted version supersedes the school's previous one. Returns
    the answers, in the order of `results`."""
    catalogue = load_catalogue()
    schools = sorted({r.school_id for r in results if r.school_id})
    versions = {
        (s, p): v
        for s, p, v in con.execute(
            "SELECT school_id, period, max(version) FROM submission WHERE list_contains(?, school_id) GROUP BY ALL",
            [schools],
        ).fetchall()
    }
    current = {
        (s, p): sha
        for s, p, sha in con.execute(
            "SELECT school_id, period, sha256 FROM current_submission WHERE list_contains(?, school_id)",
            [schools],
        ).fetchall()
    }
    latest = {
        (s, p): sha
        for s, p, sha in con.execute(
            "SELECT school_id, period, arg_max(sha256, version) FROM submission "
            "WHERE list_contains(?, school_id) AND version IS NOT NULL GROUP BY ALL",
            [schools],
        ).fetchall()
    }
    earlier = previous_versions(con, list(latest.values()))
    notes, updates, superseded = [], [], []
    for r in results:
        key, version, before = (r.school_id, r.period), None, None
        if r.school_id:
            version = versions[key] = (versions.get(key) or 0) + 1
            before = earlier.get(latest.get(key))
            latest[key] = r.sha256
            earlier[r.sha256] = Version(r.issues, r.rows, r.received_at)
        errors, warnings = counts(r.issues)
        rows_read = sum(len(s) for s in r.book.sheets.values()) if r.book else 0
        loaded = r.verdict.loads
        deadline = ref.municipalities[r.municipality].period(r.period).deadline if r.municipality else None
        updates.append(
            {
                "sha256": r.sha256,
                "school_id": r.school_id,
                "municipality": r.municipality,
                "period": r.period,
                "version": version,
                "verdict": r.verdict.value,
                "on_time": None if deadline is None else r.received_at.date() <= deadline,
                "template_version": r.book.identity.get("template_version") if r.book else None,
                "catalogue": catalogue.fingerprint,
                "errors": errors,
                "warnings": warnings,
                "rows_read": rows_read,
                "rows_loaded": rows_read if loaded else 0,
                "normalised": r.book.normalised if r.book else 0,
            }
        )
        if loaded and r.school_id:
            if key in current:
                superseded.append((current[key], r.sha256))
            current[key] = r.sha256
        notes.append({"version": version, "previous": before})
    stored = [r for r in results if r.verdict.loads]
    with transaction(con):
        con.register("updates", arrow_table(con, "submission", updates, SUBMISSION_COLUMNS))
        con.execute(
            "UPDATE submission SET "
            + ", ".join(f"{k} = u.{k}" for k in SUBMISSION_COLUMNS if k != "sha256")
            + " FROM updates u WHERE submission.sha256 = u.sha256"
        )
        con.unregister("updates")
        insert_frame(
            con,
            "issue",
            arrow_table(
                con,
                "issue",
                [
                    {
                        "sha256": r.sha256,
                        "rule": i.rule,
                        "severity": i.severity.value,
                        "sheet": i.sheet,
                        "src_row": i.row,
                        "code": i.column,
                        "cell": i.cell,
                        "value": i.value,
                        "message": i.message,
                        "fix": i.fix,
                    }
                    for r in results
                    for i in r.issues
                ],
                ISSUE_COLUMNS,
            ),
        )
        for sheet in catalogue.sheets:
            insert_frame(
                con,
                fact_table(sheet.code),
                fact_arrow(
                    con,
                    sheet,
                    [(r.sha256, r.book.sheets[sheet.code]) for r in stored if sheet.code in r.book.sheets],
                ),
            )
        insert_frame(con, "src_column", letters_arrow([(r.sha256, r.book.sheets) for r in stored]))
        for old, new in superseded:
            con.execute("UPDATE submission SET superseded_by = ? WHERE sha256 = ?", [new, old])
        answers = [
            answer_of(r, note["version"], note.get("previous"))
            for r, note in zip(results, notes, strict=True)
        ]
        record_answers(con, answers)
    return answers


def record_answers(con, answers: list[DueAnswer]) -> None:
    """Record answers as due (within the caller's transaction); replaces an earlier answer of the same kind."""
    if not answers:
        return
    con.execute(
        "DELETE FROM answer WHERE list_contains(?, sha256 || '|' || kind)",
        [[f"{a.sha256}|{a.kind}" for a in answers]],
    )
    insert_frame(
        con,
        "answer",
        pd.DataFrame(
            [
                {
                    "sha256": a.sha256,
                    "kind": a.kind,
                    "school_id": a.school_id,
                    "period": a.period,
                    "version": a.version,
                    "payload": a.model_dump_json(),
                    "due_at": datetime.now(),
                }
                for a in answers
            ]
        ),
    )


def mark_answered(con, answers: list[DueAnswer]) -> None:
    con.execute(
        "UPDATE answer SET written_at = current_localtimestamp() WHERE list_contains(?, sha256 || '|' || kind)",
        [[f"{a.sha256}|{a.kind}" for a in answers]],
    )


def previous_versions(con, shas: list[str]) -> dict[str, Version]:
    """What a receipt compares of earlier versions (any verdict): their problems, rows per sheet and arrival,
    as their own answers recorded them."""
    found = {}
    for sha, payload in con.execute(
        "SELECT sha256, payload FROM answer WHERE kind = 'receipt' AND list_contains(?, sha256)", [shas]
    ).fetchall():
        answer = json.loads(payload)
        found[sha] = Version(
            [Issue.model_validate(i) for i in answer["issues"]],
            answer.get("rows") or {},
            datetime.fromisoformat(answer["received_at"]),
        )
    return found
