"""From inbox to warehouse: receive files, archive them by content, check them, answer the school, load.

`receive_inbox` moves settled inbox files into the content-addressed archive and registers each under the
return it claims to be; `process_pending` checks one municipality's and period's pending returns and loads them.
Work is split where it is cheapest: each file is read and checked against its own rules in an isolated worker
process (both cores); the pandera contracts run once per sheet per batch of returns; each batch is loaded
through Arrow in one transaction, then every school gets its answer.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

import pandas as pd
import pyarrow as pa

from contracts.catalogue import load_catalogue
from contracts.schemas import prepare as prepare_contracts
from pipeline import warehouse
from pipeline.checks import Checked, against_previous, check_book, contract_issues, identify
from pipeline.config import Workspace
from pipeline.feedback import annotate, feedback_path, write_notice, write_receipt
from pipeline.isolation import (
    PARSE_MEMORY_MB,
    PARSE_TIMEOUT_SECONDS,
    WORKERS,
    IsolatedPool,
    Outcome,
    check_guards,
)
from pipeline.issues import Issue, issue, verdict
from pipeline.parsing import ParsedBook, read_identity, read_workbook
from pipeline.precheck import damaged, precheck
from pipeline.reference import load_reference

check_guards()
prepare_contracts()
IGNORED_PREFIXES = ("~$", ".")
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload")
BATCH_SIZE = 500  # returns validated and loaded together; one transaction each
LAST_BATCH_SIZE = 60  # the batch still to validate and load once the workers are done
BULK_GC_THRESHOLD = 50_000  # allocations between collections while returns are read (default 700)
UNLINK_THREADS = 4  # inbox files removed at once after registering (each unlink waits on the journal)
ARRIVALS_LOG = "arrivals.jsonl"  # in the archive: one line per registered file (sha256, name, received at)
_LIBC = ctypes.CDLL(None, use_errno=True)  # the C library this process already has loaded (for syncfs)


@dataclass
class CheckResult:
    sha256: str
    original_name: str
    received_at: datetime
    verdict: str
    issues: list[Issue]
    source: Path | None = None          # the checked file (in the archive, or as given to `svod check`)
    book: ParsedBook | None = None
    municipality: str | None = None
    period: str | None = None
    school_id: str | None = None
    feedback: list[Path] = field(default_factory=list)
    checked: Checked | None = None      # the return's own issues, until the batch's contracts are added

    @property
    def rows(self) -> dict[str, int]:
        if self.book is None:
            return {}
        return {s.title: len(s) for s in self.book.sheets.values() if len(s)}


@dataclass
class Received:
    """An archived file on its way into the warehouse."""

    stored: Path
    name: str
    received_at: datetime
    claimed: tuple[str | None, str | None, str | None]   # (school, municipality, period)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settled_files(inbox: Path, settle_seconds: float) -> list[Path]:
    """Inbox files that are complete (not temporary, not lock files, unchanged for `settle_seconds`), oldest first."""
    now = time.time()
    files = []
    for path in inbox.iterdir():
        if not path.is_file() or path.name.startswith(IGNORED_PREFIXES) or path.suffix.lower() in PARTIAL_SUFFIXES:
            continue
        if now - path.stat().st_mtime >= settle_seconds:
            files.append(path)
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))  # in order of arrival


def archive_file(ws: Workspace, data: bytes, name: str, sync: bool = True) -> Path:
    """Store the bytes under their sha256 (once). With `sync=False` the caller makes the archive durable itself
    (`sync_archive`), once for many files; a file left short by a crash before that is written again when the
    bytes come back."""
    digest = sha256_of(data)
    target = ws.archive / digest[:2] / f"{digest}{Path(name).suffix.lower() or '.bin'}"
    if not (target.exists() and target.read_bytes() == data):
        _write(target, data, sync)
    return target


def log_arrivals(ws: Workspace, received: list[Received]) -> None:
    """Append when and under which name each newly registered file came: the archive's own record of arrivals,
    which `svod rebuild` replays. One append per intake instead of a file per arrival."""
    lines = [json.dumps({"sha256": r.stored.stem, "original_name": r.name, "received_at": r.received_at.isoformat()},
                        ensure_ascii=False) + "\n" for r in received]
    with open(ws.archive / ARRIVALS_LOG, "a", encoding="utf-8") as log:
        log.writelines(lines)


def _write(path: Path, payload: bytes, sync: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # two workers may archive the same bytes at once
    with open(tmp, "wb") as fh:
        fh.write(payload)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def sync_archive(ws: Workspace) -> None:
    """Make everything written to the archive durable: one syncfs of its file system instead of an fsync per file."""
    fd = os.open(ws.archive, os.O_RDONLY)
    try:
        syncfs = getattr(_LIBC, "syncfs", None)
        if syncfs is None:
            os.sync()
        elif syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs")
    finally:
        os.close(fd)


@contextmanager
def _readers(fn: Callable, tasks: int) -> Iterator[IsolatedPool]:
    """Isolated workers for reading `tasks` files, forked once the catalogue and reference data are loaded (so
    they share them instead of each loading its own).

    While they run, the parsed values of thousands of returns are allocated and freed (none in reference cycles):
    what was loaded before is frozen out of the cyclic collector and it runs rarely, in the parent and in the
    workers (each full collection would otherwise scan everything alive, about 1 ms per return)."""
    load_catalogue()
    load_reference()
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(BULK_GC_THRESHOLD, *threshold[1:])
    try:
        with IsolatedPool(fn, workers=min(WORKERS, tasks) or 1, timeout=PARSE_TIMEOUT_SECONDS) as pool:
            yield pool
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


# --- checking ------------------------------------------------------------------------------------------------

def examine(path: Path, signing_key: str, received_at: datetime, name: str, prechecked: bool = False) -> CheckResult:
    """In a worker: pre-check (unless these bytes passed it on arrival), parse, identify and run the return's own
    rules (all but contracts and history)."""
    data = path.read_bytes()
    result = CheckResult(sha256_of(data), name, received_at, "rejected", [], source=path)
    problem = None if prechecked else precheck(data, name)
    if problem:
        result.issues = [problem]
        return result
    try:
        book = result.book = read_workbook(path, data)
    except zipfile.BadZipFile:  # a part fails its CRC: the pre-check reads only each part's beginning
        result.issues = [damaged(name)]
        return result
    m, period, problems = identify(book.identity, signing_key)
    result.issues = problems
    if m is None or period is None:
        return result
    result.municipality, result.period, result.school_id = m.code, period.code, book.identity["school_id"]
    result.checked = check_book(book, m, period, received_at.date())
    result.checked.head[:0] = problems
    return result


def _unparseable(path: Path, received_at: datetime, name: str, outcome: Outcome) -> CheckResult:
    if outcome.failure == "timeout":
        problem = issue("F07", detail=f"разбор занял больше {PARSE_TIMEOUT_SECONDS} с")
    elif outcome.failure == "memory":
        problem = issue("F07", detail=f"разбор требует больше {PARSE_MEMORY_MB} МБ памяти")
    else:
        problem = issue("F01", name=name, detail="книга повреждена")
    return CheckResult(sha256_of(path.read_bytes()), name, received_at, "rejected", [problem], source=path)


Previous = Callable[[str, object], dict[str, pd.DataFrame]]  # (school, period end) -> its previous registries


def finish(results: list[CheckResult], previous_for: Previous | None = None) -> None:
    """Add the batch's contract issues and each school's history checks; settle every verdict."""
    ref = load_reference()
    own = [r for r in results if r.checked is not None]
    for r, contracts in zip(own, contract_issues([r.book for r in own]), strict=True):
        if previous_for is not None:
            end = ref.municipalities[r.municipality].period(r.period).end
            r.checked.tail += against_previous(r.book, previous_for(r.school_id, end) or {})
        r.issues, r.checked = r.checked.assemble(contracts), None
        r.verdict = verdict(r.issues)


def checked_batches(files: list[tuple[Path, datetime, str]], signing_key: str, previous_for: Previous | None = None,
                    prechecked: bool = False) -> Iterator[list[CheckResult]]:
    """Check (path, received at, name) files in arrival order, a batch at a time; workers keep reading ahead."""
    tasks = [(path, signing_key, received_at, name, prechecked) for path, received_at, name in files]
    with _readers(examine, len(tasks)) as pool:
        outcomes = zip(files, pool.map(tasks), strict=True)
        for size in batch_sizes(len(tasks)):
            batch = list(islice(outcomes, size))
            results = [outcome.value if outcome.failure is None else _unparseable(*file, outcome) for file, outcome in batch]
            finish(results, previous_for)
            yield results


def batch_sizes(n: int) -> list[int]:
    """Batches of BATCH_SIZE, the last one small (under twice LAST_BATCH_SIZE): the parent validates and loads a
    batch while the workers read the next, so only the last one is waited for once every file is read."""
    sizes = [BATCH_SIZE] * ((n - 1) // BATCH_SIZE) + [(n - 1) % BATCH_SIZE + 1] if n else []
    if sizes and sizes[-1] >= 2 * LAST_BATCH_SIZE:
        sizes[-1:] = [sizes[-1] - LAST_BATCH_SIZE, LAST_BATCH_SIZE]
    return sizes


def check_return(path: Path, ws: Workspace, received_at: datetime, original_name: str | None = None,
                 previous_for: Previous | None = None) -> CheckResult:
    """Every check of one file. `previous_for(school_id, period_end)` gives the school's last accepted registries."""
    [[result]] = checked_batches([(path, received_at, original_name or path.name)], ws.signing_key, previous_for)
    return result


def write_feedback(result: CheckResult, out_dir: Path, extra: dict | None = None) -> list[Path]:
    """Annotated copy (when the file could be parsed and a cell is flagged) and receipt, under outbox/<ОО>/."""
    def place(suffix: str) -> Path:
        return feedback_path(out_dir, result.school_id, result.original_name, result.sha256, suffix)

    ref = load_reference()
    school = ref.school_home(result.school_id).school(result.school_id) if result.school_id else None
    deadline = (ref.municipalities[result.municipality].period(result.period).deadline
                if result.municipality and result.period else None)
    timeliness = ("не определён" if deadline is None else
                  f"в срок (до {deadline:%d.%m.%Y})" if result.received_at.date() <= deadline else
                  f"просрочено (срок {deadline:%d.%m.%Y})")
    info = {"original_name": result.original_name, "sha256": result.sha256, "received_at": result.received_at,
            "school_id": result.school_id, "school_name": school.name if school else None, "period": result.period,
            "template_version": result.book.identity.get("template_version") if result.book else None,
            "timeliness": timeliness, "verdict": result.verdict, "rows": result.rows, **(extra or {})}
    paths = [write_receipt(info, result.issues, place("квитанция.txt"))]
    if result.book is not None and any(i.cell for i in result.issues):  # a clean file needs only its receipt
        try:
            paths.append(annotate(result.source, result.issues, place("проверка.xlsx")))
        except Exception:  # openpyxl may refuse what calamine read; the receipt still carries every issue
            pass
    result.feedback = paths
    return paths


# --- receiving -----------------------------------------------------------------------------------------------

UNIDENTIFIED = ("", "")  # `receive_inbox(only=UNIDENTIFIED)`: files that claim no known return


@dataclass
class Arrival:
    """An inbox file once archived: its content hash, arrival time and the return it claims to be."""

    path: Path
    sha256: str
    received_at: datetime
    stored: Path
    claimed: tuple[str | None, str | None, str | None]   # (school, municipality, period)


def arrive(path: Path, ws: Workspace) -> Arrival:
    """In a worker: archive one inbox file (made durable by the caller, `sync_archive`) and read the identity it
    claims."""
    data = path.read_bytes()
    received_at = datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)
    stored = archive_file(ws, data, path.name, sync=False)
    return Arrival(path, stored.stem, received_at, stored, claimed_identity(path, ws.signing_key, data))  # named by its sha256


def receive_inbox(ws: Workspace, con, settle_seconds: float = 2.0, only: tuple[str, str] | None = None) -> list[dict]:
    """Archive settled inbox files and register each under the return it claims to be.

    `only=(municipality, period)` takes just that partition's files; `only=UNIDENTIFIED` takes files whose identity
    cannot be established and answers them at once (rejected, with feedback). The same bytes sent again are not
    registered twice; the sender gets a receipt saying so. Files leave the inbox only once archived and registered.
    """
    files = settled_files(ws.inbox, settle_seconds)
    if not files:
        return []
    with _readers(arrive, len(files)) as pool:
        outcomes = list(pool.map([(f, ws) for f in files]))
    failed = [o.detail for o in outcomes if o.failure]
    if failed:  # archiving itself failed (disk full, permissions): take nothing, register nothing
        raise OSError(f"Не удалось сохранить полученные файлы в архив: {failed[0]}")
    taken = [o.value for o in outcomes if only is None or (o.value.claimed[1] or "", o.value.claimed[2] or "") == only]
    first_seen = dict(con.execute("SELECT sha256, received_at FROM received_file WHERE list_contains(?, sha256)",
                                  [[a.sha256 for a in taken]]).fetchall())
    fresh, answers = [], []
    for a in taken:
        duplicate = a.sha256 in first_seen
        if duplicate:
            write_duplicate_receipt(ws, a.path.name, a.sha256, a.claimed[0], first_seen[a.sha256])
        else:
            first_seen[a.sha256] = a.received_at
            fresh.append(Received(a.stored, a.path.name, a.received_at, a.claimed))
        answers.append({"sha256": a.sha256, "name": a.path.name, "duplicate": duplicate, "school_id": a.claimed[0]})
    log_arrivals(ws, fresh)
    sync_archive(ws)  # files and log on disk before anything is registered or leaves the inbox
    register(ws, con, fresh)
    with ThreadPoolExecutor(UNLINK_THREADS) as pool:  # unlinking waits on the file system's journal, not the CPU
        list(pool.map(Path.unlink, [a.path for a in taken]))
    return answers


def register(ws: Workspace, con, received: list[Received], answer: bool = True) -> None:
    """Record archived files as received (one transaction); files that are no known return are checked and
    answered at once."""
    if not received:
        return
    with warehouse.transaction(con):
        warehouse.insert_frame(con, "received_file", pd.DataFrame(
            [{"sha256": r.stored.stem, "original_name": r.name, "size": r.stored.stat().st_size, "received_at": r.received_at,
              "archive_path": str(r.stored.relative_to(ws.home))} for r in received]))
        warehouse.insert_frame(con, "submission", pd.DataFrame(
            [{"sha256": r.stored.stem, "verdict": "pending", "received_at": r.received_at, "school_id": r.claimed[0],
              "municipality": r.claimed[1], "period": r.claimed[2]} for r in received]))
    unknown = [(r.stored, r.received_at, r.name) for r in received if r.claimed[0] is None]
    if unknown:
        check_and_load(ws, con, unknown, answer)


def write_duplicate_receipt(ws: Workspace, name: str, digest: str, school_id: str | None, first: datetime) -> Path:
    text = (f"Файл «{name}» (SHA-256 {digest}) уже был получен {first:%d.%m.%Y %H:%M}.\n"
            "Повторная отправка тех же данных ничего не меняет; если вы исправляли отчёт, сохраните файл заново и "
            "отправьте исправленную версию.\n")
    return write_notice(feedback_path(ws.outbox, school_id, name, digest, "повтор.txt"), text)


NOT_CLAIMED = (None, None, None)


def claimed_identity(path: Path, signing_key: str, data: bytes | None = None) -> tuple[str | None, str | None, str | None]:
    """(school, municipality, period) a file's signed identity names, if registry and calendar know them; else
    Nones. Never raises: routing must not fail on a broken file, the full check will say what is wrong.
    `data` is the file's bytes when the caller has already read them."""
    try:
        if precheck(path.read_bytes() if data is None else data, path.name):
            return NOT_CLAIMED
        identity = read_identity(path, data)
        m, period, _ = identify(identity, signing_key)
        if m is not None and period is not None:
            return identity["school_id"], m.code, period.code
    except Exception:
        pass
    return NOT_CLAIMED


def claimed_identities(files: list[Path], signing_key: str) -> list[tuple]:
    """`claimed_identity` of each file, read in the isolated workers (a file that kills its reader claims nothing)."""
    if not files:
        return []
    with _readers(claimed_identity, len(files)) as pool:
        return [NOT_CLAIMED if o.failure else o.value for o in pool.map([(f, signing_key) for f in files])]


# --- loading -------------------------------------------------------------------------------------------------

def pending(con, municipality: str, period: str) -> pd.DataFrame:
    return con.execute(
        "SELECT r.*, s.received_at AS received, s.school_id, a.sha256 AS locked_by FROM submission s "
        "JOIN received_file r USING (sha256) LEFT JOIN approval a ON a.school_id = s.school_id AND a.period = s.period "
        "WHERE s.verdict = 'pending' AND s.municipality = ? AND s.period = ? ORDER BY s.received_at, r.sha256",
        [municipality, period]).df()


def process_pending(ws: Workspace, con, municipality: str, period: str, answer: bool = True) -> list[CheckResult]:
    """Check every pending return of one municipality and period in arrival order, load them a batch at a time
    (one transaction each), and answer each school once its batch is stored."""
    period_end = load_reference().municipalities[municipality].period(period).end
    files, schools = [], set()
    for rec in pending(con, municipality, period).itertuples():
        if isinstance(rec.locked_by, str):
            hold(ws, con, rec, period)
        else:
            files.append((ws.home / rec.archive_path, rec.received.to_pydatetime(), rec.original_name))
            schools.add(rec.school_id)
    if not files:
        return []
    previous = warehouse.previous_facts(con, sorted(s for s in schools if isinstance(s, str)), period_end)
    # a pending return claimed its identity on arrival, which it can only do after passing the pre-check
    return check_and_load(ws, con, files, answer, lambda school, end: previous.get(school, {}), prechecked=True)


def check_and_load(ws: Workspace, con, files: list[tuple[Path, datetime, str]], answer: bool,
                   previous_for: Previous | None = None, prechecked: bool = False) -> list[CheckResult]:
    """Check files a batch at a time, load each batch, then answer its schools (when `answer`)."""
    results = []
    with warehouse.single_threaded(con):
        for batch in checked_batches(files, ws.signing_key, previous_for, prechecked):
            notes = load_results(con, batch)
            if answer:
                for result, note in zip(batch, notes, strict=True):
                    write_feedback(result, ws.outbox, note)
            results += batch
    return results


def hold(ws: Workspace, con, rec, period: str) -> Path:
    """A new version of an approved return waits for staff to unlock it; the school is told so."""
    con.execute("UPDATE submission SET verdict = 'held' WHERE sha256 = ?", [rec.sha256])
    text = (f"Файл «{rec.original_name}» (SHA-256 {rec.sha256}) получен {rec.received:%d.%m.%Y %H:%M}.\n"
            f"Отчёт ОО {rec.school_id} за период {period} уже утверждён муниципалитетом, поэтому новая версия "
            "отложена и будет проверена после того, как методист снимет утверждение (svod unlock).\n")
    return write_notice(feedback_path(ws.outbox, rec.school_id, rec.original_name, rec.sha256, "отложен.txt"), text)


def approve(con, school_id: str, period: str) -> str | None:
    """Lock the school's current accepted return for the period; returns its sha256, or None if there is none."""
    row = con.execute("SELECT sha256 FROM current_submission WHERE school_id = ? AND period = ?", [school_id, period]).fetchone()
    if row:
        con.execute("INSERT OR REPLACE INTO approval VALUES (?, ?, ?, current_timestamp)", [school_id, period, row[0]])
    return row[0] if row else None


def unlock(con, school_id: str, period: str) -> int:
    """Remove the approval; held versions go back to pending. Returns how many were released."""
    with warehouse.transaction(con):
        con.execute("DELETE FROM approval WHERE school_id = ? AND period = ?", [school_id, period])
        released = con.execute("SELECT count(*) FROM submission WHERE school_id = ? AND period = ? AND verdict = 'held'",
                               [school_id, period]).fetchone()[0]
        con.execute("UPDATE submission SET verdict = 'pending' WHERE school_id = ? AND period = ? AND verdict = 'held'",
                    [school_id, period])
    return released


SUBMISSION_TYPES = {"sha256": pa.string(), "school_id": pa.string(), "municipality": pa.string(), "period": pa.string(),
                    "version": pa.int32(), "verdict": pa.string(), "on_time": pa.bool_(), "template_version": pa.string(),
                    "catalogue": pa.string(), "errors": pa.int32(), "warnings": pa.int32(), "rows_read": pa.int32(),
                    "rows_loaded": pa.int32(), "normalised": pa.int32()}
ISSUE_TYPES = {"sha256": pa.string(), "rule": pa.string(), "severity": pa.string(), "sheet": pa.string(),
               "src_row": pa.int32(), "code": pa.string(), "cell": pa.string(), "value": pa.string(),
               "message": pa.string(), "fix": pa.string()}


def _table(types: dict[str, pa.DataType], rows: list[dict]) -> pa.Table:
    return pa.table({k: pa.array([r[k] for r in rows], type=t) for k, t in types.items()})


def load_results(con, results: list[CheckResult]) -> list[dict]:
    """Store a batch of checked returns in one transaction, in arrival order: versions per school and period,
    verdicts, issues, and the facts of every accepted return (through Arrow). An accepted version supersedes the
    school's previous one. Returns, per result, what its receipt should add (version, changes)."""
    catalogue = load_catalogue()
    ref = load_reference()
    schools = sorted({r.school_id for r in results if r.school_id})
    versions = {(s, p): v for s, p, v in con.execute(
        "SELECT school_id, period, max(version) FROM submission WHERE list_contains(?, school_id) GROUP BY ALL", [schools]).fetchall()}
    current = {(s, p): sha for s, p, sha in con.execute(
        "SELECT school_id, period, sha256 FROM current_submission WHERE list_contains(?, school_id)", [schools]).fetchall()}
    notes, updates, superseded = [], [], []
    for r in results:
        key, version = (r.school_id, r.period), None
        if r.school_id:
            version = versions[key] = (versions.get(key) or 0) + 1
        errors = sum(i.severity == "error" for i in r.issues)
        rows_read = sum(len(s) for s in r.book.sheets.values()) if r.book else 0
        loaded = r.verdict != "rejected"
        deadline = ref.municipalities[r.municipality].period(r.period).deadline if r.municipality else None
        updates.append({"sha256": r.sha256, "school_id": r.school_id, "municipality": r.municipality, "period": r.period,
                        "version": version, "verdict": r.verdict,
                        "on_time": None if deadline is None else r.received_at.date() <= deadline,
                        "template_version": r.book.identity.get("template_version") if r.book else None,
                        "catalogue": catalogue.fingerprint, "errors": errors, "warnings": len(r.issues) - errors,
                        "rows_read": rows_read, "rows_loaded": rows_read if loaded else 0,
                        "normalised": r.book.normalised if r.book else 0})
        if loaded and r.school_id:
            if key in current:
                superseded.append((len(notes), current[key], r.sha256))
            current[key] = r.sha256
        notes.append({"version": version})
    stored = [r for r in results if r.verdict != "rejected"]
    with warehouse.transaction(con):
        con.register("updates", _table(SUBMISSION_TYPES, updates))
        con.execute("UPDATE submission SET " + ", ".join(f"{k} = u.{k}" for k in SUBMISSION_TYPES if k != "sha256")
                    + " FROM updates u WHERE submission.sha256 = u.sha256")
        con.unregister("updates")
        warehouse.insert_frame(con, "issue", _table(ISSUE_TYPES, [
            {"sha256": r.sha256, "rule": i.rule, "severity": i.severity, "sheet": i.sheet, "src_row": i.row, "code": i.column,
             "cell": i.cell, "value": i.value, "message": i.message, "fix": i.fix} for r in results for i in r.issues]))
        for sheet in catalogue.sheets:
            warehouse.insert_frame(con, warehouse.fact_table(sheet.code), warehouse.fact_arrow(
                sheet, [(r.sha256, r.book.sheets[sheet.code]) for r in stored if sheet.code in r.book.sheets]))
        warehouse.insert_frame(con, "src_column", warehouse.letters_arrow([(r.sha256, r.book.sheets) for r in stored]))
        for n, old, new in superseded:
            con.execute("UPDATE submission SET superseded_by = ? WHERE sha256 = ?", [new, old])
            notes[n]["changes"] = _changes(con, old, new)
    return notes


def _changes(con, old: str, new: str) -> str:
    parts = []
    for code, key in (("mentors", "mentor_id"), ("mentees", "mentee_id"), ("pairs", "pair_group_id"), ("programmes", "programme_id")):
        table = warehouse.fact_table(code)
        before = set(r[0] for r in con.execute(f"SELECT {key} FROM {table} WHERE sha256 = ?", [old]).fetchall())
        after = set(r[0] for r in con.execute(f"SELECT {key} FROM {table} WHERE sha256 = ?", [new]).fetchall())
        changed = con.execute(
            f"SELECT count(*) FROM (SELECT * EXCLUDE (sha256, src_row) FROM {table} WHERE sha256 = ? "
            f"EXCEPT SELECT * EXCLUDE (sha256, src_row) FROM {table} WHERE sha256 = ?) WHERE {key} IN "
            f"(SELECT {key} FROM {table} WHERE sha256 = ?)", [new, old, old]).fetchone()[0]
        title = load_catalogue().sheet(code).title
        parts.append(f"«{title}»: добавлено {len(after - before)}, удалено {len(before - after)}, изменено {changed}")
    return "; ".join(parts)


def dry_run(path: Path, ws: Workspace, out_dir: Path) -> CheckResult:
    """`svod check`: the full check of one file and its feedback, without touching the warehouse."""
    result = check_return(path, ws, datetime.now().replace(microsecond=0))
    write_feedback(result, out_dir)
    return result


def copy_into_inbox(files: list[Path], ws: Workspace) -> None:
    for f in files:
        shutil.copy2(f, ws.inbox / f.name)
