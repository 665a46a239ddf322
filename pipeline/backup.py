"""A backup of a whole installation, and its restore: one archive file, readable only by its owner, holding the
workspace (the archive of received files, summaries and their history, answers, templates, requests and
decisions, the cabinet's secret key) with consistent copies of its databases: the warehouse (copied while a
read-only connection keeps every writer out), the cabinet's and Dagster's SQLite stores (SQLite's backup API),
or, where they are on PostgreSQL, their `pg_dump` custom-format dumps.

Restoring unpacks into an empty workspace folder; dumps are restored with `pg_restore` into the databases the
environment names (they must be empty). Nothing else is changed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path

from pipeline.config import ENVIRONMENT, Workspace, from_environment
from pipeline.store.warehouse import connect

DUMPS = "_postgresql"  # the folder of the archive holding pg_dump files, by the environment variable's name
SKIPPED = {".part", "-journal", "-wal", "-shm", ".lock"}  # transient files: never part of a backup
WAREHOUSE_WAIT_SECONDS = 600  # a backup waits this long for a run writing the warehouse to finish


class BackupRefused(RuntimeError):
    """The backup or restore cannot go on; the message is for the administrator."""


def backup(ws: Workspace, folder: Path) -> Path:
    """Write `svod_backup_<time>.tar.gz` into `folder` (mode 600); returns its path."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"svod_backup_{datetime.now():%Y%m%d_%H%M%S}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="svod-backup-", dir=folder) as staging:
        copy = Path(staging) / "home"
        _copy_files(ws.home, copy, folder)
        _copy_sqlite(ws.home, copy)
        _copy_warehouse(ws, copy)
        _dump_postgresql(copy / DUMPS)
        part = target.with_suffix(".part")
        with tarfile.open(part, "w:gz") as tar:
            tar.add(copy, arcname=".")
        part.chmod(0o600)
        part.rename(target)
    return target


def restore(archive: Path, home: Path) -> Path:
    """Unpack a backup into the empty (or missing) workspace folder `home`, and restore its PostgreSQL dumps into
    the databases the environment names; returns `home`."""
    if home.exists() and any(home.iterdir()):
        raise BackupRefused(f"Папка {home} не пуста: восстанавливайте в новую пустую папку.")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tarfile.open(archive) as tar:
        tar.extractall(home, filter="data")
    dumps = home / DUMPS
    if dumps.exists():
        for dump in sorted(dumps.glob("*.dump")):
            url = from_environment(dump.stem)
            if not url:
                raise BackupRefused(
                    f"В копии есть база PostgreSQL ({ENVIRONMENT[dump.stem]}), а переменная {ENVIRONMENT[dump.stem]} "
                    "не задана: задайте её (пустая база) и повторите."
                )
            _run(["pg_restore", "--no-owner", "--exit-on-error", "-d", url, str(dump)])
        shutil.rmtree(dumps)
    return home


def _copy_files(home: Path, copy: Path, backups: Path) -> None:
    """Every file of the workspace but the databases copied apart, transient files and the backups."""
    databases = {home / "svod.duckdb", home / "svod.duckdb.wal"} | set(_sqlite_files(home))
    for path in sorted(home.rglob("*")):
        if path.is_dir() or path in databases or any(path.name.endswith(s) for s in SKIPPED):
            continue
        if path.is_relative_to(backups.resolve()):
            continue
        target = copy / path.relative_to(home)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _sqlite_files(home: Path) -> list[Path]:
    """The cabinet's store and Dagster's storage, when they are SQLite files of the workspace."""
    return [p for p in (home / "cabinet").glob("*.sqlite3")] + [
        p for p in (home / ".dagster").rglob("*.db") if p.is_file()
    ]


def _copy_sqlite(home: Path, copy: Path) -> None:
    for path in _sqlite_files(home):
        target = copy / path.relative_to(home)
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as source, sqlite3.connect(target) as kept:
            source.backup(kept)


def _copy_warehouse(ws: Workspace, copy: Path) -> None:
    """The warehouse file (and its log) copied while a read-only connection keeps every writer out."""
    if not ws.database.exists():
        return
    with connect(ws.database, read_only=True, wait=WAREHOUSE_WAIT_SECONDS):
        for path in (ws.database, ws.database.with_name(ws.database.name + ".wal")):
            if path.exists():
                shutil.copy2(path, copy / path.name)


def _dump_postgresql(folder: Path) -> None:
    for name in ("cabinet_database", "dagster_database"):
        url = from_environment(name)
        if url:
            folder.mkdir(parents=True, exist_ok=True)
            _run(["pg_dump", "-Fc", "-f", str(folder / f"{name}.dump"), url])


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"}
        )
    except FileNotFoundError as exc:
        raise BackupRefused(f"Не найдена программа {argv[0]}: установите postgresql-client.") from exc
    if done.returncode != 0:
        raise BackupRefused(f"{argv[0]} не выполнен: {done.stderr.strip()[:300]}")
