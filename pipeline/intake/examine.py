"""Checking files: in isolated workers each file is pre-checked, parsed, identified and run through its own
rules (`examine`); in the parent each batch gets the pandera contracts and each school's history rules, and
every verdict is settled (`checked_batches`). Nothing here writes the warehouse or answers a school.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from pipeline.domain.issues import issue, verdict
from pipeline.domain.vocabulary import Verdict
from pipeline.intake.inbox import sha256_of
from pipeline.intake.records import CheckResult
from pipeline.intake.workers import readers
from pipeline.isolation import PARSE_MEMORY_MB, PARSE_TIMEOUT_SECONDS, Outcome
from pipeline.reference import Issuer
from pipeline.rules import against_previous, check_book
from pipeline.rules.contracts import contract_issues
from pipeline.rules.identity import identify
from pipeline.xlsx.container import damaged, precheck
from pipeline.xlsx.reader import identity_of, read_workbook

BATCH_SIZE = 500  # returns validated and loaded together; one transaction each
LAST_BATCH_SIZE = 60  # the batch still to validate and load once the workers are done
Previous = Callable[[str, object], dict[str, pd.DataFrame]]  # (school, period end) -> its previous registries
FileToCheck = tuple[Path, datetime, str]  # (path, received at, original name)
OPENDOCUMENT = "F03"  # the pre-check's rule for an .ods file
log = logging.getLogger(__name__)


def examine(
    path: Path, issuer: Issuer, received_at: datetime, name: str, prechecked: bool = False
) -> CheckResult:
    """In a worker: pre-check (unless these bytes passed it on arrival), parse, identify and run the return's own
    rules (all but contracts and history)."""
    data = path.read_bytes()
    result = CheckResult(sha256_of(data), name, received_at, Verdict.REJECTED, [], source=path)
    problem = None if prechecked else precheck(data, name)
    if problem:
        result.issues = [problem]
        if problem.rule == OPENDOCUMENT:
            # our template re-saved as .ods still says whose it is: answer that school
            claim_opendocument(result, data, issuer)
        return result
    try:
        book = result.book = read_workbook(path, data)
    except zipfile.BadZipFile:  # a part fails its CRC: the pre-check reads only each part's beginning
        result.issues = [damaged(name)]
        return result
    m, period, problems = identify(book.identity, issuer)
    result.issues = problems
    if m is None or period is None:
        return result
    result.municipality, result.period, result.school_id = m.code, period.code, book.identity["school_id"]
    result.checked = check_book(book, m, period, received_at.date())
    result.checked.head[:0] = problems
    return result


def claim_opendocument(result: CheckResult, data: bytes, issuer: Issuer) -> None:
    """Name the school of an .ods re-save of an issued template (its signed identity survives the re-save), so
    the refusal reaches that school; the file stays refused."""
    try:
        identity = identity_of(CalamineWorkbook.from_filelike(io.BytesIO(data)))
    except Exception as exc:
        # an .ods calamine cannot read names no school; the refusal goes to the unidentified
        log.info("%s: no identity in the OpenDocument file: %s", result.original_name, exc)
        return
    m, period, _ = identify(identity, issuer)
    if m is not None and period is not None:
        result.municipality, result.period, result.school_id = m.code, period.code, identity["school_id"]


def unparseable(file: FileToCheck, outcome: Outcome) -> CheckResult:
    """The answer for a file whose worker timed out, ran out of memory or crashed."""
    path, received_at, name = file
    if outcome.failure == "timeout":
        problem = issue("F07", detail=f"разбор занял больше {PARSE_TIMEOUT_SECONDS} с")
    elif outcome.failure == "memory":
        problem = issue("F07", detail=f"разбор требует больше {PARSE_MEMORY_MB} МБ памяти")
    else:
        problem = issue("F01", name=name, detail="книга повреждена")
    return CheckResult(
        sha256_of(path.read_bytes()), name, received_at, Verdict.REJECTED, [problem], source=path
    )


def finish(results: list[CheckResult], issuer: Issuer, previous_for: Previous | None = None) -> None:
    """Add the batch's contract issues and each school's history checks; settle every verdict."""
    ref = issuer.reference
    own = [r for r in results if r.checked is not None]
    for r, contracts in zip(own, contract_issues([r.book for r in own]), strict=True):
        if previous_for is not None:
            end = ref.municipalities[r.municipality].period(r.period).end
            r.checked.tail += against_previous(r.book, previous_for(r.school_id, end) or {})
        r.issues, r.checked = r.checked.assemble(contracts), None
        r.verdict = verdict(r.issues)


def checked_batches(
    files: list[FileToCheck], issuer: Issuer, previous_for: Previous | None = None, prechecked: bool = False
) -> Iterator[list[CheckResult]]:
    """Check files in arrival order, a batch at a time; workers keep reading ahead."""
    tasks = [(path, issuer, received_at, name, prechecked) for path, received_at, name in files]
    with readers(examine, len(tasks), issuer) as pool:
        outcomes = zip(files, pool.map(tasks), strict=True)
        for size in batch_sizes(len(tasks)):
            batch = list(islice(outcomes, size))
            results = [
                outcome.value if outcome.failure is None else unparseable(file, outcome)
                for file, outcome in batch
            ]
            finish(results, issuer, previous_for)
            yield results


def batch_sizes(n: int) -> list[int]:
    """Batches of BATCH_SIZE, the last one small (under twice LAST_BATCH_SIZE): the parent validates and loads a
    batch while the workers read the next, so only the last one is waited for once every file is read."""
    sizes = [BATCH_SIZE] * ((n - 1) // BATCH_SIZE) + [(n - 1) % BATCH_SIZE + 1] if n else []
    if sizes and sizes[-1] >= 2 * LAST_BATCH_SIZE:
        sizes[-1:] = [sizes[-1] - LAST_BATCH_SIZE, LAST_BATCH_SIZE]
    return sizes


def check_file(
    path: Path,
    issuer: Issuer,
    received_at: datetime,
    original_name: str | None = None,
    previous_for: Previous | None = None,
) -> CheckResult:
    """Every check of one file. `previous_for(school_id, period_end)` gives the school's last accepted registries."""
    [[result]] = checked_batches([(path, received_at, original_name or path.name)], issuer, previous_for)
    return result
