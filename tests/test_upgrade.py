"""Upgrading: a workspace written by an earlier release (`tests/support/previous_release`: 23 figures per ОО, no
cabinet, older warehouse schema) is opened by today's `svod` as it stands. Reading it migrates it; a return filled
in that release's template and a correction in today's are handed in; the run publishes every indicator of
today, for the returns counted before the upgrade too, with the same figures as a workspace built by today's code
from the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipeline.config import Workspace
from pipeline.domain.indicators import INDICATORS
from pipeline.reference import load_reference
from pipeline.store import queries
from pipeline.xlsx.summary_layout import municipal_paths
from samples.fake_school import fill, school_data

RELEASE = Path(__file__).parent / "support" / "previous_release"
KEY = "svod-dev-signing-key"  # that release's default key: its templates are signed with it
MUNICIPALITY, PERIOD = "kedrovy", "2025"
pytestmark = pytest.mark.slow


def svod(*args: str, home: Path) -> str:
    """`svod args… --home home` in this process (as the CLI runs it: a failure is a message and an exit code,
    never a traceback); its output."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    done = CliRunner().invoke(app, [*args, "--home", str(home)], env={"SVOD_SIGNING_KEY": KEY})
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    assert done.exit_code == 0, done.output
    return done.output


def prepared(home: Path) -> None:
    """`svod service prepare` (systemd's svod-prepare): the cabinet's database made, Dagster's storage migrated.
    In its own process: it sets up Django with the server's settings."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["SVOD_SIGNING_KEY"] = KEY
    done = subprocess.run(
        [str(Path(sys.executable).with_name("svod")), "service", "prepare", "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout[-3000:] + done.stderr[-3000:]


def published(home: Path) -> dict[str, tuple]:
    """indicator -> (numerator, denominator, hidden) of the municipality's published figures."""
    ws = Workspace.resolve(home, signing_key=KEY, create=False)
    with ws.connect(read_only=True) as con:
        run = queries.published_run(con, MUNICIPALITY, PERIOD)
        return {i: (num, den, hidden) for i, num, den, _, hidden in queries.municipal_figures_of(con, run)}


def test_a_workspace_of_the_previous_release_reads_consolidates_and_publishes_every_indicator(tmp_path):
    home = tmp_path / "upgraded"
    with tarfile.open(RELEASE / "workspace.tar.xz") as archive:
        archive.extractall(home, filter="data")
    before = set(published(home))
    assert len(before) < len(INDICATORS)  # that release published fewer indicators

    prepared(home)
    assert (home / ".dagster" / "migrated_for").exists()
    status = svod(
        "status", "--period", PERIOD, "--municipality", MUNICIPALITY, home=home
    )  # read-only: migrates
    assert "с предупреждениями: 4" in " ".join(status.split())

    school = load_reference().municipalities[MUNICIPALITY].schools[0].id
    svod("templates", "--period", PERIOD, "--school", school, "--out", str(tmp_path / "t"), home=home)
    template = next((tmp_path / "t").rglob(f"*{school}*.xlsx"))
    corrected = fill(template, tmp_path / f"{school}_исправленный.xlsx", school_data(template, 99, "small"))
    handed = [corrected, RELEASE / "KED-005_from_its_template.xlsx"]
    for f in handed:
        shutil.copy2(f, home / "inbox" / f.name)
    svod("run", "--period", PERIOD, "--municipality", MUNICIPALITY, home=home)

    figures = published(home)
    assert set(figures) == {i.code for i in INDICATORS}
    assert municipal_paths(home / "out", MUNICIPALITY, PERIOD, "")[0].exists()
    with Workspace.resolve(home, signing_key=KEY, create=False).connect(read_only=True) as con:
        states = queries.school_states(con, MUNICIPALITY, PERIOD)
    counted = states[states["has_accepted"]]
    assert set(counted["school_id"]) >= {"KED-001", "KED-002", "KED-003", "KED-004", "KED-005"}

    fresh = tmp_path / "fresh"  # today's code from scratch: every archived file, dated as it arrived
    with Workspace.resolve(fresh, signing_key=KEY).connect():
        pass
    for p in (home / "archive").glob("*/*.xlsx"):
        shutil.copy2(p, fresh / "inbox" / p.name)
    svod("run", "--period", PERIOD, "--municipality", MUNICIPALITY, home=fresh)
    assert figures == published(fresh)
