"""From inbox to warehouse: receive files, archive them by content, check them, answer the school, load.

`receive_inbox` moves settled inbox files into the content-addressed archive and identifies each return;
`check_return` runs the pre-check, parser and checks on one file and writes the school's feedback;
`process_pending` does that for one municipality and period and loads each result in its own transaction.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline import warehouse
from pipeline.checks import identify, run_checks
from pipeline.config import Workspace
from pipeline.feedback import annotate, feedback_path, write_notice, write_receipt
from pipeline.isolation import PARSE_MEMORY_MB, PARSE_TIMEOUT_SECONDS, Outcome, check_guards, run_isolated
from pipeline.issues import Issue, issue, verdict
from pipeline.parsing import ParsedBook, read_identity, read_workbook
from pipeline.precheck import precheck
from pipeline.reference import load_reference

check_guards()
IGNORED_PREFIXES = ("~$", ".")
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload")


@dataclass
class CheckResult:
    sha256: str
    original_name: str
    received_at: datetime
    verdict: str
    issues: list[Issue]
    book: ParsedBook | None = None
    municipality: str | None = None
    period: str | None = None
    school_id: str | None = None
    feedback: list[Path] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        if self.book is None:
            return {}
        return {s.title: len(s.frame) for s in self.book.sheets.values() if len(s.frame)}


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


def archive_file(ws: Workspace, data: bytes, name: str, received_at: datetime | None = None) -> Path:
    """Store the bytes under their sha256, and beside them (once) when and under which name they first came."""
    digest = sha256_of(data)
    target = ws.archive / digest[:2] / f"{digest}{Path(name).suffix.lower() or '.bin'}"
    for path, payload in ((target, data), (target.with_suffix(".json"), _receipt_record(name, received_at))):
        if path.exists() or payload is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return target


def _receipt_record(name: str, received_at: datetime | None) -> bytes | None:
    if received_at is None:
        return None
    return json.dumps({"original_name": name, "received_at": received_at.isoformat()}, ensure_ascii=False).encode()


def check_return(path: Path, ws: Workspace, received_at: datetime, original_name: str | None = None,
                 previous_for=None) -> CheckResult:
    """Pre-check, parse, identify and check one file. `previous_for(school_id, period_end)` gives last accepted data."""
    data = path.read_bytes()
    name = original_name or path.name
    result = CheckResult(sha256_of(data), name, received_at, "rejected", [])
    problem = precheck(data, name)
    if problem:
        result.issues = [problem]
        return result
    parsed = run_isolated(read_workbook, path)
    if parsed.failure:
        result.issues = [_unparseable(name, parsed)]
        return result
    book = result.book = parsed.value
    m, period, problems = identify(book.identity, ws.signing_key)
    result.issues = problems
    if m is None or period is None:
        return result
    result.municipality, result.period, result.school_id = m.code, period.code, book.identity["school_id"]
    previous = previous_for(result.school_id, period.end) if previous_for else {}
    result.issues = problems + book.issues + run_checks(book, m, period, received_at.date(), previous)
    result.verdict = verdict(result.issues)
    return result


def _unparseable(name: str, outcome: Outcome) -> Issue:
    if outcome.failure == "timeout":
        return issue("F07", detail=f"разбор занял больше {PARSE_TIMEOUT_SECONDS} с")
    if outcome.failure == "memory":
        return issue("F07", detail=f"разбор требует больше {PARSE_MEMORY_MB} МБ памяти")
    return issue("F01", name=name, detail="книга повреждена")


def write_feedback(result: CheckResult, original: Path, out_dir: Path, extra: dict | None = None) -> list[Path]:
    """Annotated copy (when the file could be parsed) and receipt, under outbox/<ОО>/."""
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
            paths.append(annotate(original, result.issues, place("проверка.xlsx")))
        except Exception:  # openpyxl may refuse what calamine read; the receipt still carries every issue
            pass
    result.feedback = paths
    return paths


UNIDENTIFIED = ("", "")  # `receive_inbox(only=UNIDENTIFIED)`: files that claim no known return


def receive_inbox(ws: Workspace, con, settle_seconds: float = 2.0, only: tuple[str, str] | None = None) -> list[dict]:
    """Archive settled inbox files and register each under the return it claims to be.

    `only=(municipality, period)` takes just that partition's files; `only=UNIDENTIFIED` takes files whose identity
    cannot be established and answers them at once (rejected, with feedback). The same bytes sent again are not
    registered twice; the sender gets a receipt saying so. Files are removed from the inbox only once archived.
    """
    taken = []
    for path in settled_files(ws.inbox, settle_seconds):
        claimed = claimed_identity(path, ws)
        if only is not None and (claimed[1] or "", claimed[2] or "") != only:
            continue
        data = path.read_bytes()
        digest = sha256_of(data)
        received_at = datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)
        stored = archive_file(ws, data, path.name, received_at)
        known = con.execute("SELECT received_at FROM received_file WHERE sha256 = ?", [digest]).fetchone()
        if known:
            write_duplicate_receipt(ws, path.name, digest, claimed[0], known[0])
        else:
            register(ws, con, stored, path.name, received_at, claimed)
        taken.append({"sha256": digest, "name": path.name, "duplicate": bool(known), "school_id": claimed[0]})
        path.unlink()
    return taken


def register(ws: Workspace, con, stored: Path, name: str, received_at: datetime, claimed: tuple, answer: bool = True) -> None:
    """Record an archived file as received; a file that is no known return is checked and answered at once."""
    with warehouse.transaction(con):
        con.execute("INSERT INTO received_file VALUES (?, ?, ?, ?, ?)",
                    [stored.stem, name, stored.stat().st_size, received_at, str(stored.relative_to(ws.home))])
        con.execute("INSERT INTO submission (sha256, verdict, received_at, school_id, municipality, period) "
                    "VALUES (?, 'pending', ?, ?, ?, ?)", [stored.stem, received_at, *claimed])
    if claimed[0] is None:
        result = check_return(stored, ws, received_at, name)
        extra = load_result(con, result)
        if answer:
            write_feedback(result, stored, ws.outbox, extra)


def write_duplicate_receipt(ws: Workspace, name: str, digest: str, school_id: str | None, first: datetime) -> Path:
    text = (f"Файл «{name}» (SHA-256 {digest}) уже был получен {first:%d.%m.%Y %H:%M}.\n"
            "Повторная отправка тех же данных ничего не меняет; если вы исправляли отчёт, сохраните файл заново и "
            "отправьте исправленную версию.\n")
    return write_notice(feedback_path(ws.outbox, school_id, name, digest, "повтор.txt"), text)


def claimed_identity(path: Path, ws: Workspace) -> tuple[str | None, str | None, str | None]:
    """(school, municipality, period) a file's signed identity names, if registry and calendar know them; else
    Nones. Never raises: routing must not fail on a broken file, the full check will say what is wrong."""
    try:
        if precheck(path.read_bytes(), path.name):
            return None, None, None
        identity = read_identity(path)
        m, period, _ = identify(identity, ws.signing_key)
        if m is not None and period is not None:
            return identity["school_id"], m.code, period.code
    except Exception:
        pass
    return None, None, None


def pending(con, municipality: str, period: str) -> pd.DataFrame:
    return con.execute(
        "SELECT r.*, s.received_at AS received, s.school_id, a.sha256 AS locked_by FROM submission s "
        "JOIN received_file r USING (sha256) LEFT JOIN approval a ON a.school_id = s.school_id AND a.period = s.period "
        "WHERE s.verdict = 'pending' AND s.municipality = ? AND s.period = ? ORDER BY s.received_at, r.sha256",
        [municipality, period]).df()


CHECK_WORKERS = min(2, os.cpu_count() or 1)  # returns are checked in parallel; loading stays single-writer


def process_pending(ws: Workspace, con, municipality: str, period: str, answer: bool = True) -> list[CheckResult]:
    """Check every pending return of one municipality and period, load each result, answer each school.

    Checks run in worker processes, in arrival order; each result is loaded (one transaction) as soon as it is
    ready, so loading overlaps with the checking of later files.
    """
    period_end = load_reference().municipalities[municipality].period(period).end
    jobs = []
    for rec in pending(con, municipality, period).itertuples():
        if isinstance(rec.locked_by, str):
            hold(ws, con, rec, period)
            continue
        previous = warehouse.previous_facts(con, rec.school_id, period_end) if isinstance(rec.school_id, str) else {}
        jobs.append((ws.home / rec.archive_path, ws, rec.received.to_pydatetime(), rec.original_name, previous))
    results = []
    for job, result in zip(jobs, _checked(jobs), strict=True):
        extra = load_result(con, result)
        if answer:
            write_feedback(result, job[0], ws.outbox, extra)
        results.append(result)
    return results


def _check_job(job) -> CheckResult:
    path, ws, received_at, name, previous = job
    return check_return(path, ws, received_at, name, previous_for=lambda school, end: previous)


def _checked(jobs: list):
    """Results of `_check_job` for each job, in order; in worker processes when there is more than one file."""
    if len(jobs) < 2 or CHECK_WORKERS < 2:
        yield from map(_check_job, jobs)
        return
    with ProcessPoolExecutor(CHECK_WORKERS, mp_context=multiprocessing.get_context("fork")) as pool:
        yield from pool.map(_check_job, jobs, chunksize=1)


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


def load_result(con, result: CheckResult) -> dict:
    """Store one checked return in one transaction; an accepted version supersedes the school's previous one."""
    catalogue = load_catalogue()
    errors = sum(i.severity == "error" for i in result.issues)
    note = {}
    with warehouse.transaction(con):
        version = None
        previous = None
        if result.school_id:
            version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM submission WHERE school_id = ? AND period = ?",
                                  [result.school_id, result.period]).fetchone()[0]
            previous = con.execute("SELECT sha256 FROM current_submission WHERE school_id = ? AND period = ?",
                                   [result.school_id, result.period]).fetchone()
        deadline = (load_reference().municipalities[result.municipality].period(result.period).deadline
                    if result.municipality else None)
        rows_read = sum(len(s.frame) for s in result.book.sheets.values()) if result.book else 0
        loaded = result.verdict != "rejected"
        con.execute(
            "UPDATE submission SET school_id = ?, municipality = ?, period = ?, version = ?, verdict = ?, on_time = ?, "
            "template_version = ?, catalogue = ?, errors = ?, warnings = ?, rows_read = ?, rows_loaded = ?, normalised = ? "
            "WHERE sha256 = ?",
            [result.school_id, result.municipality, result.period, version, result.verdict,
             None if deadline is None else result.received_at.date() <= deadline,
             result.book.identity.get("template_version") if result.book else None, catalogue.fingerprint,
             errors, len(result.issues) - errors, rows_read, rows_read if loaded else 0,
             result.book.normalised if result.book else 0, result.sha256])
        warehouse.insert_frame(con, "issue", pd.DataFrame([
            {"sha256": result.sha256, "rule": i.rule, "severity": i.severity, "sheet": i.sheet, "src_row": i.row,
             "code": i.column, "cell": i.cell, "value": i.value, "message": i.message, "fix": i.fix} for i in result.issues]))
        if loaded:
            for code, sheet in result.book.sheets.items():
                frame = sheet.frame.copy()
                for column in catalogue.sheet(code).columns:
                    if column.type == "date":
                        frame[column.code] = frame[column.code].dt.date
                frame.insert(0, "src_row", frame.index.astype("int32"))
                frame.insert(0, "sha256", result.sha256)
                warehouse.insert_frame(con, warehouse.fact_table(code), frame.reset_index(drop=True))
                warehouse.insert_frame(con, "src_column", pd.DataFrame(
                    [{"sha256": result.sha256, "sheet": code, "code": k, "letter": v} for k, v in sheet.letters.items()]))
            if previous:
                con.execute("UPDATE submission SET superseded_by = ? WHERE sha256 = ?", [result.sha256, previous[0]])
                note["changes"] = _changes(con, previous[0], result.sha256)
    note["version"] = version
    return note


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
    write_feedback(result, path, out_dir)
    return result


def copy_into_inbox(files: list[Path], ws: Workspace) -> None:
    for f in files:
        shutil.copy2(f, ws.inbox / f.name)
