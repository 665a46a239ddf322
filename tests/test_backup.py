"""`svod backup` and `svod restore`: a consolidated installation copied into one file readable only by its owner
and restored into a new folder gives the same warehouse (content hash), summaries, received files, answers, keys
and Dagster history; a restore never overwrites a workspace in use."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from pipeline.config import Workspace
from pipeline.store import queries
from pipeline.store.warehouse import connect


def files_of(home: Path, folder: str) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (home / folder).rglob("*")
        if p.is_file()
    }


def content(home: Path) -> str:
    with connect(home / "svod.duckdb", read_only=True) as con:
        return queries.content_hash(con)


def dagster_runs(home: Path) -> int:
    with sqlite3.connect(next((home / ".dagster").rglob("runs.db"))) as db:
        return db.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_a_backup_restores_the_whole_installation(published: Workspace, tmp_path):
    home = tmp_path / "home"  # a copy: the session's workspace stays as other tests expect it
    shutil.copytree(published.home, home)
    (home / ".cabinet-secret").write_text("секрет кабинета")
    (home / "cabinet").mkdir(exist_ok=True)
    with sqlite3.connect(
        home / "cabinet" / "cabinet.sqlite3"
    ) as db:  # the cabinet's store, as the cabinet keeps it
        db.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
        db.execute("INSERT INTO probe VALUES (42)")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE")}
    svod = str(Path(sys.executable).with_name("svod"))
    made = subprocess.run(
        [svod, "backup", "--to", str(tmp_path / "copies"), "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    [archive] = (tmp_path / "copies").glob("svod_backup_*.tar.gz")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # readable by the service user only

    restored = tmp_path / "restored"
    done = subprocess.run(
        [svod, "restore", str(archive), "--home", str(restored)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert content(restored) == content(home)
    for folder in ("archive", "out", "outbox", "templates"):
        assert files_of(restored, folder) == files_of(home, folder), folder
    assert (restored / ".cabinet-secret").read_text() == "секрет кабинета"
    with sqlite3.connect(restored / "cabinet" / "cabinet.sqlite3") as db:
        assert db.execute("SELECT n FROM probe").fetchall() == [(42,)]
    assert dagster_runs(restored) == dagster_runs(home) > 0

    again = subprocess.run(
        [svod, "restore", str(archive), "--home", str(restored)], env=env, capture_output=True, text=True
    )
    assert (
        again.returncode == 2
        and "не пуста" in " ".join(again.stdout.split())
        and "Traceback" not in again.stderr
    )
