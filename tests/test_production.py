"""Production shape on a real PostgreSQL: `svod serve --all` starts the gRPC code server, the Dagster webserver
and daemon (instance on PostgreSQL) and the cabinet (its store on PostgreSQL); files of two municipalities
arrive at once (two of one partition, whose runs race for it); the daemon's sensor launches their runs out of process; all partitions end materialised with the
same warehouse content as the same files through the in-process path; the process group stops cleanly.

Needs SVOD_TEST_POSTGRES (an administrator's postgresql:// address; `.ci/run` starts Debian's PostgreSQL and
sets it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.config import DEMO_SIGNING_KEY, Workspace
from pipeline.store import queries
from pipeline.xlsx.summary_layout import municipal_paths
from pipeline.xlsx.templates import write_template
from samples.fake_school import fill, school_data
from tests.support.postgres import ADMIN_URL, NEEDED, fresh_database
from tests.support.servers import answering, free_port, group_alive, wait_until

TARGETS = [("kedrovy", "2025"), ("nazarovo", "2024/2025")]  # two regions, a calendar and an academic year
SENT = {"kedrovy": 2}  # ОО handing in per municipality (else one): two runs of one partition race for it too
ARRIVED = datetime(2025, 6, 20, 10, 0)
WAIT_SECONDS = 900

pytestmark = [*NEEDED, pytest.mark.slow]


def returns(folder: Path) -> list[Path]:
    """Filled returns of a few ОО of each target, all sent at the same (past) moment."""
    from pipeline.reference import Issuer, load_reference

    files = []
    for municipality, period in TARGETS:
        m = load_reference().municipalities[municipality]
        for k, school in enumerate(m.schools[: SENT.get(municipality, 1)]):
            template = write_template(
                folder / "templates",
                Issuer(DEMO_SIGNING_KEY),
                municipality,
                period,
                school.id,
                m.period(period).start,
            )
            data = school_data(template, 40 + k, "small", m.period(period).deadline)
            path = fill(template, folder / "returns" / f"{school.id}.xlsx", data)
            os.utime(path, (ARRIVED.timestamp(), ARRIVED.timestamp()))
            files.append(path)
    return files


def in_process_hash(files: list[Path], home: Path) -> str:
    from pipeline import in_process

    ws = Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    for f in files:
        shutil.copy2(f, ws.inbox / f.name)
    in_process.consolidate(ws, TARGETS, settle=0, notify=lambda _: None)
    with ws.connect(read_only=True) as con:
        return queries.content_hash(con)


@pytest.mark.skipif(sys.platform != "linux", reason="process groups")
def test_services_on_postgresql_consolidate_two_regions_as_the_in_process_path(tmp_path, monkeypatch):
    assert ADMIN_URL, "CI must provide PostgreSQL (SVOD_TEST_POSTGRES)"
    files = returns(tmp_path / "sent")
    expected = in_process_hash(files, tmp_path / "in_process")

    home = tmp_path / "server"
    Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    env = {
        **os.environ,
        "SVOD_SIGNING_KEY": DEMO_SIGNING_KEY,
        "SVOD_HOME": str(home),
        "SVOD_DAGSTER_DATABASE": fresh_database("svod_dagster_test"),
        "SVOD_CABINET_DATABASE": fresh_database("svod_cabinet_test"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cabinet_port, dagster_port = free_port(), free_port()
    log = open(tmp_path / "services.log", "w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("svod")),
            "serve",
            "--all",
            "--home",
            str(home),
            "--port",
            str(cabinet_port),
            "--dagster-port",
            str(dagster_port),
        ],
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: answering(f"http://127.0.0.1:{cabinet_port}/login/"), "the cabinet", 120)
        wait_until(
            lambda: answering(f"http://127.0.0.1:{dagster_port}/server_info"), "the Dagster webserver", 180
        )
        for f in files:  # everything arrives at once: each lands under its final name in one rename
            shutil.copy2(f, home / "inbox" / f".{f.name}")
        for f in files:
            os.rename(home / "inbox" / f".{f.name}", home / "inbox" / f.name)

        monkeypatch.setenv("SVOD_DAGSTER_DATABASE", env["SVOD_DAGSTER_DATABASE"])
        import dagster as dg

        instance = dg.DagsterInstance.from_config(str(home / ".dagster"))
        active = [
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
        ]

        def settled() -> bool:
            published = all(municipal_paths(home / "out", m, p, "")[0].exists() for m, p in TARGETS)
            idle = not instance.get_runs(filters=dg.RunsFilter(statuses=active))
            return published and idle and not any((home / "inbox").iterdir())

        wait_until(settled, "every municipality consolidated by the daemon's runs", WAIT_SECONDS)
        time.sleep(20)  # a last tick of the regional follow-up (every 15 s) may still request runs
        wait_until(settled, "the follow-up runs", WAIT_SECONDS)
        runs = instance.get_runs()
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        consolidations = {
            r.tags.get("dagster/partition") for r in runs if r.job_name == "consolidate_partition"
        }
        assert len(consolidations) == len(TARGETS)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=120)
        wait_until(lambda: not group_alive(server.pid), "the process group to stop", 60)
        log.close()

    said = (tmp_path / "services.log").read_text(encoding="utf-8", errors="replace")
    assert "database is locked" not in said and "Could not set lock" not in said  # neither store fought over

    ws = Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY, create=False)
    with ws.connect(read_only=True) as con:
        assert queries.content_hash(con) == expected
