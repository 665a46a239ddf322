"""Dagster as the control room: the definitions, the inbox sensor, the calendar schedules, the webserver's
GraphQL view of assets and checks, and the approve/unlock workflow."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from pipeline.assets.partitions import partition_key
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.schedules import SCHEDULES
from pipeline.assets.sensors import inbox_sensor
from pipeline.definitions import build_defs
from pipeline.intake import steps as intake
from pipeline.publish import lineage
from pipeline.reference import load_reference
from pipeline.store import approvals, warehouse

from .conftest import E2E_MUNICIPALITY, E2E_PERIOD

ROOT = Path(__file__).resolve().parent.parent


def test_every_period_of_every_municipality_can_be_consolidated_and_scheduled():
    """What the code location offers, said by what staff can do with it: consolidate any municipality and period of
    the reference data, answer files that name none, publish a region; each municipality's calendar is scheduled."""
    defs = build_defs({"svod": SvodWorkspace(home="/tmp/unused")})
    graph = defs.resolve_asset_graph()
    partitions = graph.get(dg.AssetKey("checked_returns")).partitions_def.get_partition_keys()
    ref = load_reference()
    assert sorted(partitions) == sorted(
        partition_key(m.code, p.code) for m in ref.municipalities.values() for p in m.periods
    )
    jobs = {j.name for j in defs.jobs}
    assert {"consolidate_partition", "answer_unidentified", "publish_regional"} <= jobs
    assert {s.name for s in defs.schedules} == {f"calendar_{m}" for m in ref.municipalities}


def test_inbox_sensor_picks_up_a_file_once_and_a_changed_file_again(make_return, ws):
    dropped = ws.inbox / "ARH-001.xlsx"
    shutil.copy(make_return(seed=1), dropped)
    old = time.time() - 60
    os.utime(dropped, (old, old))
    resources = {"svod": SvodWorkspace(home=str(ws.home))}
    instance = dg.DagsterInstance.ephemeral()
    first = inbox_sensor(dg.build_sensor_context(cursor=None, resources=resources, instance=instance))
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert (
        request.partition_key == partition_key("arkhangelsk", "2025-Q4")
        and request.job_name == "consolidate_partition"
    )
    again = inbox_sensor(dg.build_sensor_context(cursor=first.cursor, resources=resources, instance=instance))
    assert again.run_requests == []
    shutil.copy(make_return(seed=2), dropped)
    os.utime(dropped, (old, old))
    changed = inbox_sensor(
        dg.build_sensor_context(cursor=again.cursor, resources=resources, instance=instance)
    )
    assert len(changed.run_requests) == 1 and changed.run_requests[0].run_key != request.run_key
    (ws.inbox / "note.xlsx").write_text("не книга", encoding="utf-8")
    os.utime(ws.inbox / "note.xlsx", (old, old))
    (ws.inbox / "~$ARH-001.xlsx").write_bytes(b"lock")
    junk = inbox_sensor(
        dg.build_sensor_context(cursor=changed.cursor, resources=resources, instance=instance)
    )
    assert [r.job_name for r in junk.run_requests] == ["answer_unidentified"]
    for seed in (3, 4, 5):  # a burst of files of one partition is one run
        shutil.copy(make_return(seed=seed), ws.inbox / f"burst_{seed}.xlsx")
        os.utime(ws.inbox / f"burst_{seed}.xlsx", (old, old))
    burst = inbox_sensor(dg.build_sensor_context(cursor=junk.cursor, resources=resources, instance=instance))
    assert [r.job_name for r in burst.run_requests] == ["consolidate_partition"]


def test_calendar_schedule_reminds_before_and_consolidates_after_the_deadline():
    schedule = next(s for s in SCHEDULES if s.name == "calendar_arkhangelsk")
    m = load_reference().municipalities["arkhangelsk"]
    deadline = m.period("2025-Q4").deadline
    key = partition_key("arkhangelsk", "2025-Q4")

    def evaluate(day):
        moment = datetime.combine(day, datetime.min.time()).replace(hour=8)
        return schedule(dg.build_schedule_context(scheduled_execution_time=moment))

    before = evaluate(deadline - timedelta(days=m.reminder_days - 1))
    assert [(r.partition_key, [k.to_user_string() for k in r.asset_selection]) for r in before] == [
        (key, ["missing_reminders"])
    ]
    [after] = evaluate(deadline + timedelta(days=1))
    assert after.partition_key == key and dg.AssetKey("municipal_summary") in after.asset_selection
    quiet = evaluate(deadline + timedelta(days=40))
    assert isinstance(quiet, dg.SkipReason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_webserver_serves_the_asset_graph_and_checks(tmp_path):
    port = free_port()
    env = {**os.environ, "SVOD_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    shutil.copy(ROOT / "pipeline" / "dagster.yaml", tmp_path / "dagster" / "dagster.yaml")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-m",
            "pipeline.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        query = {
            "query": "{ assetNodes { assetKey { path } isPartitioned "
            "assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"
        }
        body = None
        for _ in range(120):
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=json.dumps(query).encode(),
                    headers={"Content-Type": "application/json"},
                )
                body = json.loads(urllib.request.urlopen(req, timeout=5).read())
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, "webserver did not answer"
        nodes = {"/".join(n["assetKey"]["path"]): n for n in body["data"]["assetNodes"]}
        assert "checked_returns" in nodes and nodes["checked_returns"]["isPartitioned"]
        checks = {c["name"]: c["blocking"] for c in nodes["checked_returns"]["assetChecksOrError"]["checks"]}
        assert checks == {"rows_reconcile": True, "contracts_hold": True}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    assert server.returncode is not None


def test_asset_checks_pass_on_a_consolidated_partition(published):
    defs = build_defs({"svod": SvodWorkspace(home=str(published.home))})
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=["checked_returns", "indicators"],
        partition_key=partition_key(E2E_MUNICIPALITY, E2E_PERIOD),
        resources={"svod": SvodWorkspace(home=str(published.home))},
    )
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"rows_reconcile": True, "contracts_hold": True, "totals_reconcile": True}


def test_approved_return_holds_later_versions_until_unlocked(make_return, ws):
    with warehouse.connect(ws.database) as con:

        def drop(path, name, hour):
            shutil.copy(path, ws.inbox / name)
            stamp = datetime(2025, 12, 20, hour).timestamp()
            os.utime(ws.inbox / name, (stamp, stamp))
            intake.receive_inbox(ws, con, 0, only=("arkhangelsk", "2025-Q4"))
            return intake.process_pending(ws, con, "arkhangelsk", "2025-Q4")

        [first] = drop(make_return(seed=1), "v1.xlsx", 9)
        assert approvals.approve(con, "ARH-001", "2025-Q4") == first.sha256
        assert drop(make_return(seed=2), "v2.xlsx", 10) == []
        held = con.execute("SELECT verdict FROM submission WHERE verdict = 'held'").fetchall()
        assert len(held) == 1 and list((ws.outbox / "ARH-001").glob("v2_*_отложен.txt"))
        current = con.execute("SELECT sha256 FROM current_submission WHERE school_id = 'ARH-001'").fetchone()[
            0
        ]
        assert current == first.sha256
        assert approvals.unlock(con, "ARH-001", "2025-Q4") == 1
        [second] = intake.process_pending(ws, con, "arkhangelsk", "2025-Q4")
        assert second.verdict == "accepted"
        current = con.execute("SELECT sha256 FROM current_submission WHERE school_id = 'ARH-001'").fetchone()[
            0
        ]
        assert current == second.sha256


def test_impact_goes_from_a_school_cell_up_to_published_figures(published):
    with warehouse.connect(published.database, read_only=True) as con:
        sha, cell = con.execute(
            "SELECT fs.sha256, fs.cell FROM figure_source fs JOIN figure f USING (figure_id) "
            "WHERE fs.sheet = 'school_profile' AND f.indicator = 'I03' AND f.level = 'school' AND f.run_id IN (SELECT run_id FROM published_run) "
            "LIMIT 1"
        ).fetchone()
    school_file = next(p for p in published.archive.glob(f"{sha[:2]}/{sha}.*") if p.suffix != ".json")
    answer = lineage.impact(published.database, school_file, f"Профиль ОО!{cell}")
    fed = {(f["indicator"], f["level"]) for f in answer["figures"]}
    assert ("I03", "school") in fed and ("I03", "municipality") in fed and ("I03", "region") in fed
    with pytest.raises(lineage.NotAFigure):
        lineage.impact(published.database, ROOT / "README.md", "Профиль ОО!A3")
