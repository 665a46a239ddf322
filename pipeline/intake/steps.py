"""The intake's steps in the data's order (Dagster runs them; this module only sequences them): receive the
inbox, register what came, check a partition's pending returns, load them and answer each school.

`receive_inbox` archives settled inbox files and registers each under the return it claims to be (files that
claim none are checked and answered at once); `process_pending` checks one municipality's and period's pending
returns a batch at a time, loads each batch in one transaction and answers its schools; `dry_run` is
`svod check`: every check of one file and its answer, without the warehouse.

An answer is recorded as due in the transaction that settles its file, then written and stamped (`deliver`).
Each intake starts by finishing what a killed one left (`recover`): dead writers' `.part` files go, due answers
are written, and files registered but never checked are checked.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.config import Workspace
from pipeline.feedback import (
    Answer,
    answer_of,
    held_answer,
    loaded_answer,
    write_answer,
    write_duplicate_receipt,
)
from pipeline.files import remove_stale_parts
from pipeline.intake.examine import FileToCheck, Previous, check_file, checked_batches
from pipeline.intake.inbox import arrive, log_arrivals, remove_from_inbox, settled_files, sync_archive
from pipeline.intake.records import CheckResult, Received
from pipeline.intake.routing import partition_of
from pipeline.intake.workers import readers
from pipeline.store import approvals, queries
from pipeline.store.loads import load_results, mark_answered, register_received
from pipeline.store.warehouse import single_threaded


def receive_inbox(
    ws: Workspace, con, settle_seconds: float = 2.0, only: tuple[str, str] | None = None
) -> list[dict]:
    """Archive settled inbox files and register each under the return it claims to be.

    `only=(municipality, period)` takes just that partition's files; `only=UNIDENTIFIED` takes files whose identity
    cannot be established and answers them at once (rejected, with feedback). The same bytes sent again are not
    registered twice; the sender gets a receipt saying so. Files leave the inbox only once archived and registered.
    """
    recover(ws, con)
    files = settled_files(ws.inbox, settle_seconds)
    if not files:
        return []
    with readers(arrive, len(files), ws.issuer) as pool:
        outcomes = list(pool.map([(f, ws) for f in files]))
    failed = [o.detail for o in outcomes if o.failure]
    if failed:  # archiving itself failed (disk full, permissions): take nothing, register nothing
        raise OSError(f"Не удалось сохранить полученные файлы в архив: {failed[0]}")
    taken = [o.value for o in outcomes if only is None or partition_of(o.value.claimed) == only]
    first_seen = queries.first_received(con, [r.sha256 for r in taken])
    fresh, answers = [], []
    for r in taken:
        duplicate = r.sha256 in first_seen
        if duplicate:
            write_duplicate_receipt(ws.outbox, r.name, r.sha256, r.claimed[0], first_seen[r.sha256])
        else:
            first_seen[r.sha256] = r.received_at
            fresh.append(r)
        answers.append(
            {"sha256": r.sha256, "name": r.name, "duplicate": duplicate, "school_id": r.claimed[0]}
        )
    log_arrivals(ws, fresh)
    sync_archive(ws)  # files and log on disk before anything is registered or leaves the inbox
    take_in(ws, con, fresh)
    remove_from_inbox([r.inbox for r in taken])
    return answers


def take_in(ws: Workspace, con, received: list[Received], answer: bool = True) -> None:
    """Register archived files as pending; those that are no known return are checked and answered at once."""
    register_received(con, ws.home, received)
    unknown = [(r.stored, r.received_at, r.name) for r in received if r.claimed[0] is None]
    if unknown:
        check_and_load(ws, con, unknown, answer)


def process_pending(
    ws: Workspace, con, municipality: str, period: str, answer: bool = True
) -> list[CheckResult]:
    """Check every pending return of one municipality and period in arrival order, load them a batch at a time
    (one transaction each), and answer each school once its batch is stored. With `answer` false (a rebuild)
    answers are recorded as due but nothing is written to the outbox."""
    period_end = ws.reference.municipalities[municipality].period(period).end
    if answer:
        deliver(ws, con)
    files, schools = [], set()
    for rec in queries.pending(con, municipality, period).itertuples():
        if isinstance(rec.locked_by, str):
            approvals.hold(con, rec.sha256, held_answer(rec, period))
            if answer:
                deliver(ws, con, [rec.sha256])
        else:
            files.append((ws.home / rec.archive_path, rec.received.to_pydatetime(), rec.original_name))
            schools.add(rec.school_id)
    if not files:
        return []
    previous = queries.previous_facts(con, sorted(s for s in schools if isinstance(s, str)), period_end)
    # a pending return claimed its identity on arrival, which it can only do after passing the pre-check
    return check_and_load(
        ws, con, files, answer, lambda school, end: previous.get(school, {}), prechecked=True
    )


def check_and_load(
    ws: Workspace,
    con,
    files: list[FileToCheck],
    answer: bool,
    previous_for: Previous | None = None,
    prechecked: bool = False,
) -> list[CheckResult]:
    """Check files a batch at a time, load each batch, then answer its schools (when `answer`). The results keep
    verdicts and issues, not the parsed frames."""
    results = []
    with single_threaded(con):
        for batch in checked_batches(files, ws.issuer, previous_for, prechecked):
            load_results(con, ws.reference, batch, loaded_answer(ws.home, ws.reference))
            if answer:
                written = deliver(ws, con, [r.sha256 for r in batch])
                for r in batch:
                    r.feedback, r.annotation_failure = written.get(r.sha256, ([], None))
            for r in batch:  # stored and answered: a country's results must not hold every return's frames
                r.book = None
            results += batch
    return results


def deliver(ws: Workspace, con, shas: list[str] | None = None) -> dict[str, tuple[list[Path], str | None]]:
    """Write the answers that are due (of these files, or all) and stamp them; sha256 -> (paths, annotation failure)."""
    answers = [Answer.model_validate_json(payload) for payload in queries.due_answers(con, shas)]
    written = {a.sha256: write_answer(a, ws.outbox, ws.home) for a in answers}
    mark_answered(con, answers)
    return written


def recover(ws: Workspace, con) -> None:
    """Finish what a killed intake left: dead writers' temp files, due answers, registered but unchecked files."""
    for folder in (ws.outbox, ws.out, ws.archive, ws.templates):
        remove_stale_parts(folder)
    deliver(ws, con)
    stranded = queries.unidentified_pending(con)
    if len(stranded):
        check_and_load(
            ws,
            con,
            [
                (ws.home / r.archive_path, r.received.to_pydatetime(), r.original_name)
                for r in stranded.itertuples()
            ],
            answer=True,
        )


def dry_run(path: Path, ws: Workspace, out_dir: Path) -> CheckResult:
    """`svod check`: the full check of one file and its feedback, without touching the warehouse."""
    result = check_file(path, ws.issuer, datetime.now().replace(microsecond=0))
    result.feedback, result.annotation_failure = write_answer(answer_of(result, ws.reference), out_dir)
    return result
