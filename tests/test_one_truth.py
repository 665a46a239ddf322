"""One system: the cabinet and the pipeline agree by construction. A return for correction is counted nowhere
(board, school's page, municipal summary, region page, regional workbook); runs the cabinet did not start reach
its board; a run of one region writes no other region's files; the numbers in the browser are the summary's."""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pytest
from django.conf import settings
from typer.testing import CliRunner

from cabinet import worker
from cabinet.figures import printed, shown
from cabinet.models import Channel, Job, Role, Upload
from cabinet.workflow import board, school_state, totals
from pipeline.assets.partitions import partition_key
from pipeline.cli import app
from pipeline.config import Workspace
from pipeline.domain.figures import FigureId, Unit
from pipeline.domain.indicators import BY_CODE
from pipeline.domain.vocabulary import Level, Status
from pipeline.in_process import consolidate, instance, materialize, run_asked
from pipeline.publish import lineage
from pipeline.publish.impact import impact
from pipeline.store import queries
from pipeline.store.warehouse import connect
from pipeline.xlsx.summary_layout import municipal_paths, regional_files
from samples import demo
from tests.support.cabinet import client_for

pytestmark = pytest.mark.e2e
TOMSK, SARATOV = ("kedrovy", "2025", "tomsk_obl"), ("voskresensky", "2025", "saratov_obl")


def hand_in_by_mail(ws: Workspace, partitions) -> list:
    """Every ОО of the partitions sends its return the way most do: a file in the inbox (e-mail, a shared folder)."""
    for municipality, period, _ in partitions:
        materialize(ws, instance(ws), ["school_templates"], partition_key(municipality, period))
    return demo.fill_inbox(ws, [(m, p) for m, p, _ in partitions])


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory) -> Workspace:
    ws = Workspace.resolve(tmp_path_factory.mktemp("two_regions") / "home")
    hand_in_by_mail(ws, [TOMSK, SARATOV])
    consolidate(ws, [(m, p) for m, p, _ in (TOMSK, SARATOV)], settle=0)
    return ws


def test_a_run_of_one_region_writes_no_other_regions_workbook(two_regions, tmp_path):
    ws = Workspace.resolve(tmp_path / "home")
    shutil.copytree(two_regions.home, ws.home, dirs_exist_ok=True)
    [tomsk], [saratov] = regional_files(ws.out, TOMSK[2]), regional_files(ws.out, SARATOV[2])
    before = {path: path.read_bytes() for path in (tomsk, saratov)}
    for path in before:
        os.utime(path, ns=(0, 0))
    consolidate(ws, [TOMSK[:2]], settle=0)
    assert saratov.stat().st_mtime_ns == 0 and saratov.read_bytes() == before[saratov]
    assert tomsk.stat().st_mtime_ns > 0  # its own region's workbook is written again


def e_mailed_version_is_shown_whole(m, period: str) -> None:
    """A version that came by e-mail is in the cabinet: its verdict, its problems by cell, the file as sent."""
    rejected = next(s for s in board(m, m.period(period)) if s.status == Status.REJECTED)
    school, slug = rejected.school, period.replace("/", "-")
    client = client_for(Role.SCHOOL, school.id)
    versions = Upload.objects.filter(school_id=school.id, period=period, channel=Channel.INBOX)
    assert versions.exists() and Channel.INBOX.label in client.get(f"/o/{school.id}/{slug}/").content.decode()
    version = versions.first()
    cell = next(i["cell"] for i in version.issues if i["severity"] == "error" and i["cell"])
    assert f">{cell}<" in client.get(f"/upload/{version.pk}/").content.decode().replace(" ", "")
    sent = client.get(f"/upload/{version.pk}/original/")
    archived = next((settings.WORKSPACE.archive / version.sha256[:2]).glob(f"{version.sha256}.*"))
    assert b"".join(sent.streaming_content) == archived.read_bytes()
    assert client.get(f"/upload/{version.pk}/receipt/").status_code == 200


def coverage_line(path) -> str:
    title = openpyxl.load_workbook(path, read_only=True)["Титул"]
    return next(str(r[1]) for r in title.iter_rows(values_only=True) if r[0] == "Охват")


def regional_coverage(ws: Workspace, municipality_name: str) -> int:
    """Accepted returns of one municipality as the regional workbook counts them (sheet «Охват»)."""
    [path] = regional_files(ws.out, TOMSK[2])
    rows = openpyxl.load_workbook(path, read_only=True)["Охват"].iter_rows(values_only=True)
    return next(int(r[3]) for r in rows if r[0] == municipality_name)


@pytest.mark.django_db
def test_a_report_returned_for_correction_is_counted_in_none_of_five_places(tmp_path):
    ws = settings.WORKSPACE
    municipality, period, region = TOMSK
    m = ws.reference.municipalities[municipality]
    hand_in_by_mail(ws, [TOMSK])
    consolidate(ws, [(municipality, period)], settle=0)
    worker.Follower(ws).follow()
    before = totals(board(m, m.period(period)))["done"]
    assert before >= 2, "the sample must have several accepted reports"
    victim = next(s for s in board(m, m.period(period)) if s.done).school

    methodist = client_for(Role.METHODIST, municipality)
    slug = period.replace("/", "-")
    methodist.post(
        f"/o/{victim.id}/{slug}/decide/", {"kind": "return", "reason": "Нет подписи руководителя."}
    )
    assert Job.objects.filter(state="queued", municipality=municipality).exists()
    assert run_asked(ws)  # what the daemon does: the consolidation the decision asked for applies it
    worker.Follower(ws).follow()

    state = school_state(m, victim, m.period(period))
    page = re.sub(r"\s+", " ", methodist.get(f"/o/{victim.id}/{slug}/").content.decode())
    region_page = client_for(Role.REGION, region).get(f"/region/{region}/").content.decode()
    summary = municipal_paths(ws.out, municipality, period, "")[0]  # the latest
    assert state.status == Status.RETURNED and Status.RETURNED.ru in page  # the school's page
    assert totals(board(m, m.period(period)))["done"] == before - 1  # the board
    assert coverage_line(summary).startswith(f"приняты отчёты {before - 1} из {len(m.schools)}")
    assert f"{before - 1} из {len(m.schools)}" in region_page  # the region page
    assert regional_coverage(ws, m.name) == before - 1  # the regional workbook
    title = {r[0]: r[1] for r in openpyxl.load_workbook(summary)["Титул"].iter_rows(values_only=True)}
    assert victim.short_name in title["Возвращены на доработку (не учтены)"]


@pytest.mark.django_db
def test_runs_the_cabinet_did_not_start_reach_its_board():
    """A run of `svod run` and one the inbox sensor asked for are on the board at the worker's next look."""
    import dagster as dg

    from pipeline.assets.sensors import inbox_sensor
    from pipeline.definitions import build_defs
    from pipeline.in_process import resource

    ws = settings.WORKSPACE
    municipality, period = "levokumsky", "2024/2025"
    m = ws.reference.municipalities[municipality]
    follower = worker.Follower(ws)
    follower.follow()
    assert totals(board(m, m.period(period)))["done"] == 0
    story = hand_in_by_mail(ws, [(municipality, period, "")])
    cli = CliRunner().invoke(
        app, ["run", "--period", period, "--municipality", municipality, "--home", str(ws.home)]
    )
    assert cli.exit_code == 0, cli.output
    assert (municipality, period) in follower.follow()
    after_cli = totals(board(m, m.period(period)))["done"]
    assert after_cli > 0
    e_mailed_version_is_shown_whole(m, period)

    assert demo.send_corrections(ws, story), "the sample must include corrected resubmissions"
    inst = instance(ws)
    asked = inbox_sensor(
        dg.build_sensor_context(cursor=None, resources={"svod": resource(ws)}, instance=inst)
    )
    job = build_defs({"svod": resource(ws)}).resolve_job_def("consolidate_partition")
    for request in asked.run_requests:
        run = job.execute_in_process(partition_key=request.partition_key, instance=inst, tags=request.tags)
        assert run.success
    assert (municipality, period) in follower.follow()
    assert totals(board(m, m.period(period)))["done"] > after_cli


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


@pytest.mark.django_db
def test_the_numbers_are_in_the_browser_as_in_the_summary_and_trace_to_school_cells(two_regions, settings):
    """The methodist's indicators page prints the published figures as the summary does (hidden ones as their
    mark), each traces to the school cells it came from, and every page keeps its scope (a methodist their
    municipality, a region aggregates of its own municipalities only)."""
    settings.WORKSPACE = ws = two_regions  # Саратовская область, consolidated once for this module
    M, P, REGION = SARATOV
    with ws.connect(read_only=True) as con:
        rows = queries.published_indicators(con, [M], ["municipality", "school"])
        rows = rows[rows["period"] == P]
        municipal = rows[rows["level"] == "municipality"]
        traced_id = next(
            r.figure_id
            for r in municipal.itertuples()
            if not BY_CODE[r.indicator].breakdown and isinstance(r.value, float) and r.hidden is None
        )
        traced = lineage.trace(con, FigureId.parse(traced_id))
    methodist = client_for(Role.METHODIST, M)

    page = page_text(methodist.get(f"/m/{M}/{P}/indicators/"))
    for r in municipal.itertuples():  # every headline and breakdown as the summary prints it
        ind = BY_CODE[r.indicator]
        assert ind.title in page and shown(r.value, r.hidden, ind.unit) in page, r.indicator
    hidden = rows[(rows["level"] == "school") & rows["hidden"].notna()]
    for code in hidden["indicator"].unique()[:3]:  # a hidden figure by ОО shows its mark, not a number
        by_school = page_text(methodist.get(f"/m/{M}/{P}/indicators/?indicator={code}"))
        assert all(mark in by_school for mark in hidden[hidden["indicator"] == code]["hidden"]), code
    # what the page shows, as a workbook: an attachment, each value as printed (a hidden one by its mark)
    code = hidden["indicator"].iloc[0] if len(hidden) else municipal["indicator"].iloc[0]
    exported = methodist.get(f"/m/{M}/{P}/indicators/?indicator={code}&export=xlsx")
    assert exported["Content-Disposition"].startswith("attachment; filename")
    assert exported["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(b"".join(exported.streaming_content)), read_only=True)
    cells = {v for row in book.active.iter_rows(values_only=True) for v in row if v}
    assert set(hidden[hidden["indicator"] == code]["hidden"]) <= cells
    for r in municipal.itertuples():
        if not BY_CODE[r.indicator].breakdown:
            assert shown(r.value, r.hidden, BY_CODE[r.indicator].unit) in cells, r.indicator

    figure = page_text(methodist.get(f"/figure/{quote(traced_id, safe='/')}/"))
    assert traced["sources"], "a headline count comes from school cells"
    for source in traced["sources"][:10]:  # the cells, file hash and version of its lineage
        assert source["cell"] in figure and source["sha256"][:16] in figure and source["sheet"] in figure
    assert BY_CODE[traced["indicator"]].title in figure

    # the figure of a summary's cell traces in the browser as `svod explain` traces it
    summary = municipal_paths(ws.out, M, P, "")[0]
    explain = ["explain", "--home", str(ws.home), "--workbook", str(summary), "--cell", "Показатели по ОО!C2"]
    explained = json.loads(CliRunner().invoke(app, [*explain, "--json"]).output)
    page = page_text(methodist.get(f"/figure/{quote(explained['figure_id'], safe='/')}/"))
    assert explained["sources"] and explained["title"] in page
    for source in explained["sources"]:
        assert source["cell"] in page and source["sha256"][:16] in page and source["sheet"] in page

    other = client_for(Role.METHODIST, "kedrovy")
    assert other.get(f"/figure/{quote(traced_id, safe='/')}/").status_code == 404
    assert other.get(f"/m/{M}/{P}/indicators/").status_code in (403, 404)
    region = client_for(Role.REGION, REGION)
    seen = page_text(region.get(f"/figure/{quote(traced_id, safe='/')}/"))
    assert "Ячейки отчётов ОО (" not in seen  # a region sees how it is made, not the schools' cells
    assert shown(
        municipal.set_index("figure_id").loc[traced_id, "value"], None, BY_CODE[traced["indicator"]].unit
    ) in page_text(region.get(f"/region/{REGION}/indicators/?indicator={traced['indicator']}"))
    school_figure = rows[rows["level"] == "school"].iloc[0].figure_id
    assert region.get(f"/figure/{quote(school_figure, safe='/')}/").status_code == 404
    assert (
        client_for(Role.REGION, "tomsk_obl").get(f"/figure/{quote(traced_id, safe='/')}/").status_code == 404
    )
    assert client_for(Role.SCHOOL, "VOS-001").get(f"/m/{M}/{P}/indicators/").status_code in (403, 404)


@pytest.mark.django_db
def test_a_methodist_sees_what_a_version_changes_in_the_published_figures(two_regions, settings):
    """Before deciding on a version, its impact: the published figures with it and without it (returned, the
    school's previous accepted version counts, here none), printed as published, for the methodist only."""
    settings.WORKSPACE = ws = two_regions
    M, P, _ = SARATOV
    with ws.connect(read_only=True) as con:
        run = queries.published_run_of(con, M, P)
        counted = queries.current_returns(con, queries.run_inputs(con, run.run_id)[2])
        sha, school = counted.iloc[0]["sha256"], counted.iloc[0]["school_id"]
        found = impact(con, ws.reference, M, P, sha)
        published = {(f[0], f[2]): f for f in queries.run_figures(con, run.run_id)}
    assert found.counted and found.changes
    assert {c.entity for c in found.changes} <= {M, school}
    additive = [
        c
        for c in found.changes
        if c.level is Level.MUNICIPALITY
        and BY_CODE[c.indicator].unit is Unit.COUNT
        and not (BY_CODE[c.indicator].shared or BY_CODE[c.indicator].largest or BY_CODE[c.indicator].per_file)
        and isinstance(c.before, float)
        and isinstance(c.after, float)
    ]
    assert additive, "a count that adds up across ОО moves with the version"
    for c in additive:  # by exactly the school's own published count
        _, _, _, _, own, _, hidden, _ = published[(c.indicator, school)]
        assert hidden is None and c.after - c.before == pytest.approx(own), c.indicator
    worker.Follower(ws).follow()  # the cabinet knows the versions the warehouse recorded
    page = page_text(client_for(Role.METHODIST, M).get(f"/o/{school}/{P}/impact/"))
    for c in found.changes[:5]:
        unit = BY_CODE[c.indicator].unit
        assert BY_CODE[c.indicator].title in page and printed(c.after, unit) in page, c.indicator
    assert client_for(Role.METHODIST, "kedrovy").get(f"/o/{school}/{P}/impact/").status_code in (403, 404)
    assert client_for(Role.SCHOOL, school).get(f"/o/{school}/{P}/impact/").status_code in (403, 404)


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


def test_a_backup_restores_the_whole_installation(two_regions: Workspace, tmp_path):
    """`svod backup` and `svod restore`: the installation copied into one file readable only by its owner and
    restored into a new folder gives the same warehouse (content hash), summaries, received files, answers, keys
    and Dagster history; a restore never overwrites a workspace in use."""
    home = tmp_path / "home"  # a copy: the session's workspace stays as other tests expect it
    shutil.copytree(two_regions.home, home)
    (home / ".cabinet-secret").write_text("секрет кабинета")
    (home / "cabinet").mkdir(exist_ok=True)
    # the cabinet's store, as the cabinet keeps it
    with sqlite3.connect(home / "cabinet" / "cabinet.sqlite3") as db:
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
