"""Faults a server meets, survived without a person, on PostgreSQL: `svod serve` stopped by SIGTERM while a run
the methodist asked for is running, then started again as systemd would; PostgreSQL going away (every
connection reset, new ones refused: `tests/support/outage.py`) for half a minute and coming back. Afterwards the
asked-for consolidation has finished, pages said «Сервис временно недоступен» meanwhile, an upload refused during
the outage goes through when repeated, a new consolidation runs, nothing is left queued and the log has a line
per failure rather than a traceback per request."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pipeline.config import DEMO_SIGNING_KEY, Workspace
from pipeline.intake.run_requests import REQUEST_TAG
from tests.support.cabinet import filled
from tests.support.outage import Outage
from tests.support.postgres import NEEDED, fresh_database, server_address
from tests.support.servers import (
    accounts_script,
    answering,
    free_port,
    group_alive,
    logged_in,
    processes,
    wait_until,
)

pytestmark = [*NEEDED, pytest.mark.slow]
SCHOOL, SLUG, MUNICIPALITY = "ARH-001", "2025-Q4", "arkhangelsk"
OUTAGE_SECONDS = 20


def serve(home: Path, port: int, env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("svod")), "serve", "--home", str(home), "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(server: subprocess.Popen) -> None:
    """As systemd stops a service (KillMode=control-group): SIGTERM to every process, the runs too."""
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=120)
    wait_until(lambda: not group_alive(server.pid), "every process of the server to stop", 60)


def consolidation_asked(base: str) -> str:
    """The methodist presses «Запустить свод»; the job's page."""
    methodist = logged_in(base, f"metodist-{MUNICIPALITY}")
    asked = methodist.post(
        f"{base}/m/{MUNICIPALITY}/{SLUG}/consolidate/",
        data={"csrfmiddlewaretoken": methodist.cookies["csrftoken"]},
        headers={"Referer": f"{base}/m/{MUNICIPALITY}/{SLUG}/", "HX-Request": "true"},
        timeout=60,
    )
    asked.raise_for_status()
    return re.search(r'hx-get="(/job/[^"]+/)"', asked.text).group(1)


def job_says(base: str, job: str) -> str:
    return logged_in(base, f"metodist-{MUNICIPALITY}").get(f"{base}{job}", timeout=30).text


def hand_in(base: str, workbook: Path) -> requests.Response:
    session = logged_in(base, SCHOOL)
    with workbook.open("rb") as f:
        return session.post(
            f"{base}/o/{SCHOOL}/{SLUG}/upload/",
            files={"file": (workbook.name, f)},
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{base}/o/{SCHOOL}/{SLUG}/"},
            timeout=60,
        )


@pytest.mark.skipif(sys.platform != "linux", reason="process groups")
def test_a_run_stopped_by_sigterm_and_postgresql_away_need_nobody(tmp_path, monkeypatch):
    database = Outage(*server_address())
    home = tmp_path / "home"
    Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    env = {
        **os.environ,
        "SVOD_SIGNING_KEY": DEMO_SIGNING_KEY,
        "SVOD_HOME": str(home),
        "SVOD_DAGSTER_DATABASE": fresh_database("svod_faults_dagster", database.port),
        "SVOD_CABINET_DATABASE": fresh_database("svod_faults_cabinet", database.port),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "-c", accounts_script(home, [SCHOOL])], env=env, check=True)
    monkeypatch.setenv("SVOD_DAGSTER_DATABASE", env["SVOD_DAGSTER_DATABASE"])
    import dagster as dg

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "services.log"
    log = open(log_path, "a")
    server = serve(home, port, env, log)
    try:
        wait_until(lambda: answering(f"{base}/login/"), "the cabinet", 120)
        wait_until(lambda: processes(server.pid, b"dagster-daemon"), "the daemon", 180)
        template = tmp_path / "template.xlsx"
        template.write_bytes(
            logged_in(base, SCHOOL).get(f"{base}/o/{SCHOOL}/{SLUG}/template/", timeout=60).content
        )
        first = filled(template, tmp_path / "first.xlsx", seed=1)
        assert "Отчёт принят" in hand_in(base, first).text

        # SIGTERM while the asked-for run runs; started again, it finishes without anyone asking twice
        job = consolidation_asked(base)
        instance = dg.DagsterInstance.from_config(str(home / ".dagster"))
        asked = dg.RunsFilter(tags={REQUEST_TAG: job.strip("/").split("/")[-1]})
        deadline = time.monotonic() + 180
        while not any(r.status == dg.DagsterRunStatus.STARTED for r in instance.get_runs(filters=asked)):
            assert time.monotonic() < deadline, "the asked-for run did not start"
            time.sleep(0.2)
        stop(server)
        assert instance.get_runs(filters=asked)[0].status != dg.DagsterRunStatus.SUCCESS  # stopped mid-run
        server = serve(home, port, env, log)
        wait_until(lambda: answering(f"{base}/login/"), "the cabinet after the restart", 120)
        wait_until(lambda: "готово" in job_says(base, job), "the stopped consolidation to finish", 300)

        # PostgreSQL away
        second = filled(template, tmp_path / "second.xlsx", seed=2)
        signed_in = logged_in(base, SCHOOL)
        database.cut()
        away_since = log_path.stat().st_size
        for _ in range(5):
            board = signed_in.get(f"{base}/o/{SCHOOL}/{SLUG}/", timeout=30)
            assert board.status_code == 503 and "Сервис временно недоступен" in board.text
            assert board.headers["Retry-After"]
        with second.open("rb") as f:
            refused = signed_in.post(
                f"{base}/o/{SCHOOL}/{SLUG}/upload/",
                files={"file": (second.name, f)},
                data={"csrfmiddlewaretoken": signed_in.cookies["csrftoken"]},
                headers={"Referer": f"{base}/o/{SCHOOL}/{SLUG}/"},
                timeout=60,
            )
        assert refused.status_code == 503 and "Сервис временно недоступен" in refused.text
        time.sleep(OUTAGE_SECONDS)
        database.restore()

        wait_until(
            lambda: requests.get(f"{base}/login/", timeout=30).status_code == 200, "the cabinet back", 60
        )
        assert "Отчёт принят" in hand_in(base, second).text  # the refused upload, repeated cleanly
        again = consolidation_asked(base)
        wait_until(lambda: "готово" in job_says(base, again), "a consolidation after the outage", 300)
        unfinished = [
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
        ]
        wait_until(
            lambda: not instance.get_runs(filters=dg.RunsFilter(statuses=unfinished)),
            "no run left waiting",
            120,
        )
    finally:
        stop(server)
        log.close()
        database.close()

    during = log_path.read_bytes()[away_since:].decode("utf-8", "replace")
    failures = len(re.findall(r"(?<!following exception:\n\n)Traceback", during))  # chained ones count once
    assert failures <= 4, during[-5000:]  # a Dagster daemon thread's error each, not one per request or look
    assert not re.search(r"^(INFO|WARNING|ERROR):dagster", during, re.M)  # Dagster's lines once, not twice
