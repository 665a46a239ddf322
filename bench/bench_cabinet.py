"""Benchmark: the cabinet does not wait for consolidation. A region of SVOD_BENCH_REGION ОО (default 1,000) has
its returns in the inbox; `svod serve` runs (gunicorn, its worker, Dagster's daemon, which consolidates the inbox
by itself first) on a synthetic registry. Twenty schools then log in concurrently, open their page and hand in a
workbook (the whole answer: upload, archive, every check, receipt and annotated copy, the verdict page), and a
methodist opens the board; first with the cabinet idle (the baseline, same run), then while the consolidation
the methodist asked for runs (Dagster's run, DuckDB locked by it). Prints one
line per phase: p50/p95 latencies, their ratio to the baseline, and whether the consolidation was still running
when the last request finished. A first phase hands in five workbooks one at a time: an upload's own cost.

Run: `uv run python bench/bench_cabinet.py` (SVOD_BENCH_WEB_PROCESSES: the server's web processes, default 2).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pipeline as generated  # noqa: E402 — the region generator of the pipeline benchmark

from pipeline.config import DEMO_SIGNING_KEY  # noqa: E402

CLIENTS = 20
WEB_PROCESSES = int(os.environ.get("SVOD_BENCH_WEB_PROCESSES", 2))  # `svod serve --processes`
ALONE = 5  # uploads measured one at a time, before the concurrent phases
PASSWORD = "Бенчмарк-2026"
SLUG = generated.PERIOD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Visitor:
    """One person at a browser: a session with its CSRF token."""

    def __init__(self, base: str, username: str):
        self.base, self.session = base, requests.Session()
        self.session.get(f"{base}/login/")
        self.post("/login/", {"username": username, "password": PASSWORD})

    def post(self, path: str, data: dict, files: dict | None = None) -> requests.Response:
        data = {**data, "csrfmiddlewaretoken": self.session.cookies["csrftoken"]}
        response = self.session.post(
            self.base + path, data=data, files=files, headers={"Referer": self.base + path}
        )
        response.raise_for_status()
        return response

    def timed(self, method, *args, **kwargs) -> tuple[float, requests.Response]:
        started = time.perf_counter()
        response = method(*args, **kwargs)
        response.raise_for_status()
        return time.perf_counter() - started, response


def school_round(args) -> dict:
    """A school opens its page, hands in its workbook and reads the verdict; its methodist opens the board."""
    (me, staff), school, path = args
    base = me.base
    page, _ = me.timed(me.session.get, f"{base}/o/{school}/{SLUG}/")
    with open(path, "rb") as f:
        upload, answer = me.timed(me.post, f"/o/{school}/{SLUG}/upload/", {}, {"file": (Path(path).name, f)})
    board, _ = staff.timed(staff.session.get, f"{base}/m/{generated.MUNICIPALITY}/{SLUG}/")
    return {
        "page": page,
        "upload": upload,
        "board": board,
        "finished": time.time(),
        "verdict": re.search(r"Отчёт (не )?принят[а-я ]*", answer.text).group(0),
        "history_deferred": "будет сделано при сводке" in answer.text,
    }


def phase(base: str, uploads: list[tuple[str, Path]]) -> list[dict]:
    """Everyone logs in first (password hashing is not what is measured), then all act at once."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        people = list(
            pool.map(
                lambda school: (
                    Visitor(base, school.lower()),
                    Visitor(base, f"metodist-{generated.MUNICIPALITY}"),
                ),
                [school for school, _ in uploads],
            )
        )
        return list(
            pool.map(
                school_round,
                [(who, school, str(path)) for who, (school, path) in zip(people, uploads, strict=True)],
            )
        )


def summarise(name: str, rounds: list[dict], baseline: dict | None, **extra) -> dict:
    """One line per phase: p50/p95/max in ms of the page, the upload (to the verdict page) and the board."""
    out = {
        "scenario": "cabinet_uploads",
        "phase": name,
        "clients": len(rounds),
        "web_processes": WEB_PROCESSES,
    }
    for kind in ("page", "upload", "board"):  # upload: the whole answer, until the verdict page has arrived
        values = [1000 * r[kind] for r in rounds]
        out |= {
            f"{kind}_p50_ms": statistics.median(values),
            f"{kind}_p95_ms": percentile(values, 0.95),
            f"{kind}_max_ms": max(values),
        }
        if baseline:
            out[f"{kind}_p95_vs_idle"] = out[f"{kind}_p95_ms"] / baseline[f"{kind}_p95_ms"]
    out["history_deferred"] = sum(r["history_deferred"] for r in rounds)
    print(
        " ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}" for k, v in {**out, **extra}.items()),
        flush=True,
    )
    return out


def receipts(home: Path) -> str:
    """Nothing is lost: every upload the cabinet recorded has its receipt written."""
    from cabinet import engine
    from cabinet.models import Upload

    uploads = list(Upload.objects.all())
    return f"{sum(engine.answer_file(u.pk, 'receipt') is not None for u in uploads)}/{len(uploads)}"


def quiet(home: Path) -> None:
    """Wait until the inbox is taken, no Dagster run is waiting or running, and the cabinet has copied the
    region's returns (its worker follows the runs)."""
    import dagster as dg

    from cabinet import runs
    from cabinet.models import RecordedState
    from cabinet.worker import FOLLOW_SECONDS

    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
    busy.append(dg.DagsterRunStatus.STARTED)
    time.sleep(20)  # the sensor's first look
    while any((home / "inbox").glob("*.xlsx")) or runs.dagster().get_runs(
        filters=dg.RunsFilter(statuses=busy), limit=1
    ):
        time.sleep(1)
    copied = -1  # the worker's copy is done when two of its looks in a row found nothing new
    while copied != (copied := RecordedState.objects.filter(municipality=generated.MUNICIPALITY).count()):
        time.sleep(2 * FOLLOW_SECONDS)


def run(n: int) -> None:
    home = Path(os.environ["SVOD_HOME"])
    from cabinet.setup import start

    start(home)
    from cabinet import runs
    from cabinet.accounts import create_account
    from cabinet.models import Job, Role
    from pipeline.config import Workspace

    schools = Workspace.resolve(home, create=False).reference.municipalities[generated.MUNICIPALITY].schools
    gen = home / "generated"
    (gen / "inbox").mkdir(parents=True)
    extra = [(s.id, s.size, 10_000 + k) for k, s in enumerate(schools[: 2 * CLIENTS + ALONE])]
    # the region's returns, then two rounds of cabinet uploads (not timed)
    with ProcessPoolExecutor(2) as pool:
        list(
            pool.map(
                generated._make_return,
                [(str(gen), s.id, s.size, k) for k, s in enumerate(schools)],
                chunksize=8,
            )
        )
        (gen / "cabinet" / "inbox").mkdir(parents=True)
        made = list(
            pool.map(
                generated._make_return, [(str(gen / "cabinet"), school, size, k) for school, size, k in extra]
            )
        )
    inbox = home / "inbox"
    inbox.mkdir(exist_ok=True)
    for f in (gen / "inbox").glob("*.xlsx"):
        f.rename(inbox / f.name)
    uploads = [(school, Path(path)) for (school, _, _), path in zip(extra, made, strict=True)]
    for school, _, _ in extra:
        create_account(Role.SCHOOL, school, password=PASSWORD)
    create_account(Role.METHODIST, generated.MUNICIPALITY, password=PASSWORD)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("svod")),
            "serve",
            "--home",
            str(home),
            "--port",
            str(port),
            "--threads",
            str(CLIENTS + 4),
            "--processes",
            str(WEB_PROCESSES),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                requests.get(f"{base}/login/", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # bound early, answering once started
                time.sleep(0.5)
        quiet(home)  # Dagster's inbox sensor consolidates the region's returns by itself first
        alone = []
        for school, path in uploads[2 * CLIENTS :]:  # one school at a time: what a single upload costs
            alone += phase(base, [(school, path)])
        summarise("one_at_a_time", alone, None)
        idle = summarise("idle", phase(base, uploads[:CLIENTS]), None)
        staff = Visitor(base, f"metodist-{generated.MUNICIPALITY}")
        started = time.time()
        staff.post(f"/m/{generated.MUNICIPALITY}/{SLUG}/consolidate/", {})
        job = Job.objects.get(kind="consolidate")
        while runs.refresh(job).state != "running":  # Dagster's daemon took it
            time.sleep(0.2)
        time.sleep(3)  # the run is past its start and holds the warehouse
        rounds = phase(base, uploads[CLIENTS : 2 * CLIENTS])
        last = max(r["finished"] for r in rounds)
        while not runs.refresh(job).finished:
            time.sleep(0.5)
        summarise(
            "during_consolidation",
            rounds,
            idle,
            consolidation_s=job.finished_at.timestamp() - started,
            consolidation_state=job.state,
            all_done_while_running=last < job.finished_at.timestamp(),
            returns_consolidated=n,
            receipts=receipts(home),
        )
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    n = int(os.environ.get("SVOD_BENCH_REGION", 1000))
    if sys.argv[1:2] == ["--child"]:
        run(n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference"
        generated.synthetic_reference(reference, n)
        env = {
            **os.environ,
            "SVOD_REFERENCE_DIR": str(reference),
            "SVOD_HOME": str(Path(tmp) / "home"),
            "SVOD_SIGNING_KEY": DEMO_SIGNING_KEY,
        }
        subprocess.run([sys.executable, __file__, "--child"], env=env, check=True)


if __name__ == "__main__":
    main()
