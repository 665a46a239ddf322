"""Taking files from the inbox: which are settled, and keeping each byte for byte in the content-addressed
archive (`archive/<sha[:2]>/<sha256>.<ext>`) with a line in `archive/arrivals.jsonl` saying when and under
which name it came. Nothing here checks a file's content; `arrive` runs in an isolated worker.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from pipeline.config import Workspace
from pipeline.files import atomic_path
from pipeline.intake.records import Received
from pipeline.intake.routing import claimed_identity

IGNORED_PREFIXES = ("~$", ".")
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload")
ARRIVALS_LOG = "arrivals.jsonl"  # in the archive: one line per registered file (sha256, name, received at)
UNLINK_THREADS = 4  # inbox files removed at once after registering (each unlink waits on the journal)
_LIBC = ctypes.CDLL(None, use_errno=True)  # the C library this process already has loaded (for syncfs)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settled_files(inbox: Path, settle_seconds: float) -> list[Path]:
    """Inbox files that are complete (not temporary, not lock files, unchanged for `settle_seconds`), oldest first."""
    now = time.time()
    files = []
    for path in inbox.iterdir():
        if (
            not path.is_file()
            or path.name.startswith(IGNORED_PREFIXES)
            or path.suffix.lower() in PARTIAL_SUFFIXES
        ):
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
        with atomic_path(target, sync) as tmp:
            tmp.write_bytes(data)
    return target


def arrive(path: Path, ws: Workspace) -> Received:
    """In a worker: archive one inbox file (made durable by the caller, `sync_archive`) and read the identity it
    claims."""
    data = path.read_bytes()
    received_at = datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)
    stored = archive_file(ws, data, path.name, sync=False)
    return Received(stored, path.name, received_at, claimed_identity(path, ws.issuer, data), inbox=path)


def log_arrivals(ws: Workspace, received: list[Received]) -> None:
    """Append when and under which name each newly registered file came: the archive's own record of arrivals,
    which `svod rebuild` replays. One append per intake instead of a file per arrival."""
    lines = [
        json.dumps(
            {"sha256": r.sha256, "original_name": r.name, "received_at": r.received_at.isoformat()},
            ensure_ascii=False,
        )
        + "\n"
        for r in received
    ]
    with open(ws.archive / ARRIVALS_LOG, "a", encoding="utf-8") as log:
        log.writelines(lines)


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


def remove_from_inbox(paths: list[Path]) -> None:
    """Unlink registered inbox files from a few threads: each unlink waits on the file system's journal."""
    with ThreadPoolExecutor(UNLINK_THREADS) as pool:
        list(pool.map(Path.unlink, paths))
