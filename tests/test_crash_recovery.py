"""A run killed anywhere (SIGKILL of its whole process group) never blocks the next one, and the next run ends in
exactly the state an uninterrupted run reaches: every file archived once, one receipt per file, the same verdicts
and warehouse content, byte-identical summaries, no `.part` left. Kills are placed by `tests/support/crash.py`."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from pipeline.config import DEMO_SIGNING_KEY, Workspace
from pipeline.reference import Issuer
from pipeline.store import queries, warehouse
from pipeline.xlsx.templates import write_template
from samples.fake_school import fill, make_mistake, school_data
from tests.support.crash import POINTS, run_svod

ROOT = Path(__file__).resolve().parent.parent
MUNICIPALITY, PERIOD = "arkhangelsk", "2025-Q4"
RUN = ["run", "--period", PERIOD, "--municipality", MUNICIPALITY]
MISTAKES = {3: "enum_typo", 6: "missing_required"}
BETWEEN_RUNS = {"after_unidentified_step"}  # killed after one Dagster run ended and before the next began
pytestmark = pytest.mark.slow
RESTART_KILLS = {
    "inside_load_transaction": "receipt_half_written",
    "before_indicators": "summary_half_copied",
}


@pytest.fixture(scope="module")
def returns(tmp_path_factory) -> Path:
    """Ten returns of Arkhangelsk (two with mistakes) and a CSV renamed to .xlsx, with arrival times set."""
    folder = tmp_path_factory.mktemp("returns")
    templates = tmp_path_factory.mktemp("templates")
    for n in range(1, 11):
        template = write_template(
            templates, Issuer(DEMO_SIGNING_KEY), MUNICIPALITY, PERIOD, f"ARH-{n:03d}", date(2025, 10, 1)
        )
        data = school_data(template, n, "small", date(2025, 12, 20))
        if n in MISTAKES:
            make_mistake(data, MISTAKES[n])
        fill(template, folder / f"ARH-{n:03d}_отчёт.xlsx", data)
    (folder / "Отчёт_школа.xlsx").write_text("ОО;наставники\nШкола;5\n", encoding="cp1251")
    for k, path in enumerate(sorted(folder.iterdir())):
        stamp = (datetime(2025, 12, 10, 9) + timedelta(minutes=k)).timestamp()
        os.utime(path, (stamp, stamp))
    return folder


def svod(home: Path, point: str = "none", timeout: float = 300) -> int:
    """`svod run` in its own process group, with a kill point armed; its exit code (negative for a signal)."""
    code = run_svod(point, [*RUN, "--home", str(home)], {"SVOD_SIGNING_KEY": DEMO_SIGNING_KEY}, timeout)
    assert code in (0, -signal.SIGKILL), f"svod run ended with {code} (kill point {point})"
    return code


def workspace(tmp_path: Path, returns: Path) -> Path:
    """A workspace with its warehouse (as issuing templates leaves it) and the returns in its inbox."""
    home = tmp_path / "home"
    with Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY).connect():
        pass
    for path in returns.iterdir():
        shutil.copy2(path, home / "inbox" / path.name)
    return home


def failure_reasons(home: Path) -> list[str]:
    instance = dg.DagsterInstance.from_config(str(home / ".dagster"))
    return [
        entry.message
        for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
    ]


def state(home: Path) -> dict:
    archived = sorted(p.name for p in (home / "archive").glob("??/*") if not p.name.endswith(".json"))
    receipts: dict[str, list[str]] = {}
    for path in (home / "outbox").rglob("*_квитанция.txt"):
        receipts.setdefault(path.name.rsplit("_", 2)[-2], []).append(path.read_text(encoding="utf-8"))
    with warehouse.connect(home / "svod.duckdb", read_only=True) as con:
        verdicts = con.execute("SELECT school_id, version, verdict FROM submission ORDER BY ALL").fetchall()
        content = queries.content_hash(con)
    summaries = {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (home / "out").rglob("*.xlsx")
    }
    parts = [str(p) for p in home.rglob("*.part") if ".dagster" not in p.parts]
    return {
        "archived": archived,
        "receipts": receipts,
        "verdicts": verdicts,
        "content": content,
        "summaries": summaries,
        "parts": parts,
        "inbox": sorted(p.name for p in (home / "inbox").iterdir()),
    }


@pytest.fixture(scope="module")
def reference(returns, tmp_path_factory) -> dict:
    home = workspace(tmp_path_factory.mktemp("reference"), returns)
    assert svod(home) == 0
    found = state(home)
    assert len(found["archived"]) == 11 and found["inbox"] == [] and found["parts"] == []
    assert all(len(texts) == 1 for texts in found["receipts"].values()) and len(found["receipts"]) == 11
    assert svod(home) == 0 and state(home) == found  # a further run over a finished state changes nothing
    return found


# a kill point that is also a restart's kill point (RESTART_KILLS) is exercised there, and of two neighbouring
# points (the same step, a moment apart) one is killed by default, for CI's time; every point runs on its own
# with SVOD_EVERY_KILL_POINT=1
NEIGHBOURS = {  # left out by default -> the neighbour that stays
    "archived_not_registered": "registered_unidentified_not_checked",
    "committed_not_answered": "some_answers_written",
    "before_municipal_summary": "before_indicators",  # its restart is killed while copying the summary
}
KILLED_FIRST = sorted(
    set(POINTS)
    - {"none"}
    - (set() if os.environ.get("SVOD_EVERY_KILL_POINT") else {*RESTART_KILLS.values(), *NEIGHBOURS})
)


@pytest.mark.parametrize("point", KILLED_FIRST)
def test_a_killed_run_is_finished_by_the_next_one(point, returns, reference, tmp_path):
    home = workspace(tmp_path, returns)
    assert svod(home, point) == -signal.SIGKILL, f"the run never reached the kill point {point}"
    if point in RESTART_KILLS:  # the restart itself is killed too
        assert svod(home, RESTART_KILLS[point]) == -signal.SIGKILL
    assert svod(home) == 0  # the restart finishes: a dead run holds no pool slot
    assert state(home) == reference
    if point not in BETWEEN_RUNS:  # the killed run is closed with a reason in its own log
        assert any("Запуск прерван" in reason for reason in failure_reasons(home)), point
    if point in RESTART_KILLS or point in BETWEEN_RUNS:  # where a kill leaves the most behind, a further run
        assert (
            svod(home) == 0 and state(home) == reference
        )  # changes nothing either (the others: `reference`)
