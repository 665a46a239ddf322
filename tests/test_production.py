"""Production shape on a real PostgreSQL, and the faults such a server meets, survived without a person.

`svod serve --all` starts the gRPC code server, the Dagster webserver and daemon (instance on PostgreSQL) and the
cabinet (its store on PostgreSQL); files of two municipalities arrive at once (two of one partition, whose runs
race for it); the daemon's sensor launches their runs out of process; all partitions end materialised with the
same warehouse content as the same files through the in-process path. Then, on the same server:
- it is stopped by SIGTERM (every process, as systemd stops a service) while a run the methodist asked for is
  running, and started again: the asked-for consolidation finishes, nobody asking twice;
- PostgreSQL goes away for a while (every connection ended, new ones refused: `tests/support/outage.py`) and comes
  back: meanwhile pages say «Сервис временно недоступен» (503), an upload is refused and goes through when
  repeated; afterwards a new consolidation runs, nothing is left queued, the cabinet's log has a line per failure
  and Dagster's lines are printed once.

Needs SVOD_TEST_POSTGRES (an administrator's postgresql:// address; `.ci/run` starts Debian's PostgreSQL and
sets it)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from pipeline.config import DEMO_SIGNING_KEY, Workspace
from pipeline.intake.run_requests import REQUEST_TAG
from pipeline.store import queries
from pipeline.xlsx.summary_layout import municipal_paths
from pipeline.xlsx.templates import write_template
from samples.fake_school import fill, school_data
from tests.support.cabinet import filled
from tests.support.outage import Outage
from tests.support.postgres import ADMIN_URL, NEEDED, fresh_database, server_address
from tests.support.servers import (
    accounts_script,
    answering,
    free_port,
    group_alive,
    logged_in,
    uploaded,
    wait_until,
)

TARGETS = [("kedrovy", "2025"), ("nazarovo", "2024/2025")]  # two regions, a calendar and an academic year
SENT = {"kedrovy": 2}  # ОО handing in per municipality (else one): two runs of one partition race for it too
ARRIVED = datetime(2025, 6, 20, 10, 0)
WAIT_SECONDS = 900
SCHOOL, SLUG, MUNICIPALITY = "ARH-001", "2025-Q4", "arkhangelsk"  # hands in through the cabinet
OUTAGE_SECONDS = 10
UNFINISHED = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED"]

pytestmark = [*NEEDED, pytest.mark.slow]


def serve(home: Path, port: int, env: dict, log, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("svod")),
            "serve",
            "--home",
            str(home),
            "--port",
            str(port),
            *more,
        ],
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


def job_says(methodist: requests.Session, base: str, job: str) -> str:
    return methodist.get(f"{base}{job}", timeout=30).text


def hand_in(base: str, workbook: Path) -> requests.Response:
    return uploaded(logged_in(base, SCHOOL), base, SCHOOL, SLUG, workbook)


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
def test_services_on_postgresql_consolidate_as_in_process_and_outlive_a_stop_and_the_database_away(
    tmp_path, monkeypatch
):
    assert ADMIN_URL, "CI must provide PostgreSQL (SVOD_TEST_POSTGRES)"
    files = returns(tmp_path / "sent")
    expected = in_process_hash(files, tmp_path / "in_process")

    database = Outage(*server_address())
    home = tmp_path / "server"
    Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    env = {
        **os.environ,
        "SVOD_SIGNING_KEY": DEMO_SIGNING_KEY,
        "SVOD_HOME": str(home),
        "SVOD_DAGSTER_DATABASE": fresh_database("svod_dagster_test", database.port),
        "SVOD_CABINET_DATABASE": fresh_database("svod_cabinet_test", database.port),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "-c", accounts_script(home, [SCHOOL])], env=env, check=True)
    monkeypatch.setenv("SVOD_DAGSTER_DATABASE", env["SVOD_DAGSTER_DATABASE"])
    import dagster as dg

    cabinet_port, dagster_port = free_port(), free_port()
    base = f"http://127.0.0.1:{cabinet_port}"
    log_path = tmp_path / "services.log"
    log = open(log_path, "a")
    server = serve(home, cabinet_port, env, log, "--all", "--dagster-port", str(dagster_port))
    try:
        wait_until(lambda: answering(f"{base}/login/"), "the cabinet", 120)
        instance = dg.DagsterInstance.from_config(str(home / ".dagster"))  # made by the server's preparation
        wait_until(
            lambda: answering(f"http://127.0.0.1:{dagster_port}/server_info"), "the Dagster webserver", 180
        )
        for f in files:  # everything arrives at once: each lands under its final name in one rename
            shutil.copy2(f, home / "inbox" / f".{f.name}")
        for f in files:
            os.rename(home / "inbox" / f".{f.name}", home / "inbox" / f.name)

        def settled() -> bool:
            published = all(municipal_paths(home / "out", m, p, "")[0].exists() for m, p in TARGETS)
            idle = not instance.get_runs(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus(s) for s in UNFINISHED])
            )
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
        ws = Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY, create=False)
        with ws.connect(read_only=True) as con:
            assert queries.content_hash(con) == expected

        server = a_run_stopped_by_sigterm_is_finished_after_the_restart(
            server, base, env, log, instance, tmp_path
        )
        away_since = log_path.stat().st_size
        pages_say_so_while_the_database_is_away_and_all_goes_on_after(base, database, instance, tmp_path)
    finally:
        stop(server)
        log.close()
        database.close()

    said = log_path.read_text(encoding="utf-8", errors="replace")
    assert "database is locked" not in said and "Could not set lock" not in said  # neither store fought over
    assert not re.search(r"^(INFO|WARNING|ERROR):dagster", said, re.M)  # Dagster's lines once, not twice
    during = said.encode()[away_since:].decode("utf-8", "replace")
    cabinet = [line for line in during.splitlines() if re.match(r"\S+ \S+ svod\[\d+\] ", line)]
    assert cabinet and not any("Traceback" in line for line in cabinet)  # pages, worker, mail: a line each
    failures = len(re.findall(r"(?<!following exception:\n\n)Traceback", during))  # chained ones count once
    assert failures <= 10, during[-5000:]  # Dagster's: one per failing daemon thread, not one per request


def a_run_stopped_by_sigterm_is_finished_after_the_restart(server, base, env, log, instance, tmp_path):
    """A school hands in; the methodist asks for a consolidation; the server is stopped while its run runs and
    started again as systemd would; the job ends «готово» (Dagster retried the run), nobody asking twice."""
    import dagster as dg

    template = tmp_path / "template.xlsx"
    template.write_bytes(
        logged_in(base, SCHOOL).get(f"{base}/o/{SCHOOL}/{SLUG}/template/", timeout=60).content
    )
    assert "Отчёт принят" in hand_in(base, filled(template, tmp_path / "first.xlsx", seed=1)).text
    job = consolidation_asked(base)
    asked = dg.RunsFilter(tags={REQUEST_TAG: job.strip("/").split("/")[-1]})
    deadline = time.monotonic() + 180
    while not any(r.status == dg.DagsterRunStatus.STARTED for r in instance.get_runs(filters=asked)):
        assert time.monotonic() < deadline, "the asked-for run did not start"
        time.sleep(0.2)
    stop(server)
    assert instance.get_runs(filters=asked)[0].status != dg.DagsterRunStatus.SUCCESS  # stopped mid-run
    server = serve(home_of(env), int(base.rsplit(":", 1)[1]), env, log, "--processes", "1")
    wait_until(lambda: answering(f"{base}/login/"), "the cabinet after the restart", 120)
    methodist = logged_in(base, f"metodist-{MUNICIPALITY}")  # once: each sign-in hashes a password
    wait_until(lambda: "готово" in job_says(methodist, base, job), "the stopped consolidation to finish", 300)
    return server


def pages_say_so_while_the_database_is_away_and_all_goes_on_after(base, database, instance, tmp_path):
    import dagster as dg

    second = filled(tmp_path / "template.xlsx", tmp_path / "second.xlsx", seed=2)
    signed_in = logged_in(base, SCHOOL)
    database.cut()
    for _ in range(5):
        board = signed_in.get(f"{base}/o/{SCHOOL}/{SLUG}/", timeout=30)
        assert board.status_code == 503 and "Сервис временно недоступен" in board.text
        assert board.headers["Retry-After"]
    refused = uploaded(signed_in, base, SCHOOL, SLUG, second)
    assert refused.status_code == 503 and "Сервис временно недоступен" in refused.text
    time.sleep(OUTAGE_SECONDS)
    database.restore()

    wait_until(lambda: requests.get(f"{base}/login/", timeout=30).status_code == 200, "the cabinet back", 60)
    assert "Отчёт принят" in hand_in(base, second).text  # the refused upload, repeated cleanly
    again = consolidation_asked(base)
    methodist = logged_in(base, f"metodist-{MUNICIPALITY}")
    wait_until(lambda: "готово" in job_says(methodist, base, again), "a consolidation after the outage", 300)
    wait_until(
        lambda: (
            not instance.get_runs(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus(s) for s in UNFINISHED])
            )
        ),
        "no run left waiting",
        120,
    )


def home_of(env: dict) -> Path:
    return Path(env["SVOD_HOME"])
