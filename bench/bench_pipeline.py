"""Benchmark: svod's intake (pre-check, parse, validate, load), consolidation and publishing on generated regions.

Each scenario runs in its own process with a synthetic registry (SVOD_REFERENCE_DIR) of N ОО in one municipality,
fills returns with the fake school (a spread of sizes, ~4 % broken files, ~3 % corrected resubmissions; not
timed), then measures in the same run, SVOD_BENCH_REPEATS times (default 3; each intake into a fresh workspace,
right after its own baselines, since this VM's speed drifts over minutes), and reports medians. The baselines run in
a child process; the intake starts with the warehouse created and the inbox on disk (`ready_for_intake`):
  - svod: receive + check + load (+ feedback, + indicators and summary where stated);
  - naive: pandas.read_excel(openpyxl) + pandera per sheet, per file (on a sample);
  - floor: zip inflate + expat parse of every XML part, no per-cell objects.
Prints one line per scenario. Run: `uv run python bench/bench_pipeline.py [municipality] [region] [summary] [country]`.
The country scenario (SVOD_BENCH_COUNTRY ОО, default 40,000, in municipalities of 1,000) clones 200 generated
returns to every ОО with a re-signed identity, since generating 40,000 returns would take most of an hour.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.parsers.expat
import zipfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path

import yaml

from pipeline.config import DEMO_SIGNING_KEY

ROOT = Path(__file__).resolve().parent.parent
MUNICIPALITY, PERIOD = "arkhangelsk", "2025-Q4"
SIZES = ["small"] * 6 + ["medium"] * 3 + ["large"]
DONORS = 200  # distinct generated returns the country scenario clones
REPEATS = int(os.environ.get("SVOD_BENCH_REPEATS", 3))  # intake runs per region scenario; medians reported
FLAGGED = {
    1,
    4,
    6,
}  # of every ten generated returns, these get a mistake at a cell (30 %; never a truncated one)
BENCH_MISTAKES = [
    "bad_date",
    "enum_typo",
    "unknown_mentor",
    "missing_required",
    "profile_overflow",
    "not_confirmed",
]


def addresses(school_id: str) -> dict:
    return {
        "email": f"{school_id.lower()}@bench.example",
        "curator_email": f"nastavnik.{school_id.lower()}@bench.example",
    }


def synthetic_reference(folder: Path, n: int) -> None:
    """The bundled reference data with Arkhangelsk's registry replaced by n generated ОО."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("territories.yaml", "roadmaps.yaml"):
        shutil.copy(ROOT / "pipeline" / "reference" / name, folder / name)
    schools = yaml.safe_load((ROOT / "pipeline" / "reference" / "schools.yaml").read_text(encoding="utf-8"))
    rng = random.Random(n)
    schools[MUNICIPALITY] = [
        {
            "id": f"ARH-{i:05d}",
            "name": f"МБОУ «Школа № {i}» городского округа «Город Архангельск»",
            "type": "общеобразовательная организация",
            "size": rng.choice(SIZES),
            **addresses(f"ARH-{i:05d}"),
        }
        for i in range(1, n + 1)
    ]
    (folder / "schools.yaml").write_text(yaml.safe_dump(schools, allow_unicode=True), encoding="utf-8")


def synthetic_country(folder: Path, municipalities: int, per: int) -> list[str]:
    """The bundled reference data plus `municipalities` copies of Arkhangelsk (own codes, roadmap item codes and
    registry of `per` ОО each); returns their codes."""
    synthetic_reference(folder, DONORS)
    territories = yaml.safe_load((folder / "territories.yaml").read_text(encoding="utf-8"))
    roadmaps = yaml.safe_load((folder / "roadmaps.yaml").read_text(encoding="utf-8"))
    schools = yaml.safe_load((folder / "schools.yaml").read_text(encoding="utf-8"))
    rng = random.Random(per)
    codes = [f"c{i:03d}" for i in range(municipalities)]
    for code in codes:
        territories["municipalities"][code] = territories["municipalities"][MUNICIPALITY]
        roadmaps[code] = {
            **roadmaps[MUNICIPALITY],
            "items": [[f"{code}:{it[0]}", *it[1:]] for it in roadmaps[MUNICIPALITY]["items"]],
        }
        schools[code] = [
            {
                "id": f"{code.upper()}-{i:05d}",
                "name": f"МБОУ «Школа № {i}»",
                "type": "общеобразовательная организация",
                "size": rng.choice(SIZES),
                **addresses(f"{code.upper()}-{i:05d}"),
            }
            for i in range(1, per + 1)
        ]
    for name, data in (
        ("territories.yaml", territories),
        ("roadmaps.yaml", roadmaps),
        ("schools.yaml", schools),
    ):
        (folder / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return codes


def clone_return(donor: Path, target: Path, school_id: str, municipality: str) -> None:
    """The donor's return re-addressed to another ОО: school ID, municipality and a freshly signed identity."""
    from pipeline.xlsx.book import SHARED_STRINGS
    from pipeline.xlsx.reader import read_identity
    from pipeline.xlsx.school_layout import Identity
    from pipeline.xlsx.templates import submission_id

    old = read_identity(donor)
    new = Identity(
        **{
            **{k: old[k] for k in Identity.model_fields if k != "signature"},
            "school_id": school_id,
            "municipality": municipality,
            "submission_id": submission_id(school_id, old["period"], date.fromisoformat(old["issued"])),
        }
    ).signed(DEMO_SIGNING_KEY)
    swaps = [(old[k].encode(), getattr(new, k).encode()) for k in ("school_id", "submission_id", "signature")]
    swaps.append((f">{old['municipality']}<".encode(), f">{municipality}<".encode()))
    with zipfile.ZipFile(donor) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            # the identity's text is in the cells, or shared (as the fake curator keeps it)
            if info.filename.startswith("xl/worksheets/") or info.filename == SHARED_STRINGS:
                for a, b in swaps:
                    data = data.replace(a, b)
            out.writestr(info, data)
    stamp = donor.stat().st_mtime
    os.utime(target, (stamp, stamp))


def _clone(args) -> None:
    donors, start, schools = args
    for n, (school, municipality) in enumerate(schools, start):
        target = Path(os.environ["SVOD_HOME"]) / "inbox" / f"{school}.xlsx"
        clone_return(Path(donors[n % len(donors)]), target, school, municipality)
        if n % 25 == 7:  # a broken upload
            target.write_bytes(target.read_bytes()[:5000])


def run_country(municipalities: int, per: int, answer: bool) -> None:
    """In a child process: donors from the fake school (30 % flagged, like the region's), cloned to every ОО of the
    country, then intake (answered: every school gets its receipt, and flagged ones an annotated copy) and one
    summary per municipality."""
    from pipeline.config import Workspace
    from pipeline.intake.steps import process_pending, receive_inbox
    from pipeline.publish.municipal import publish

    home = Path(os.environ["SVOD_HOME"])
    ws = Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    donors_home = home / "donors"
    (donors_home / "inbox").mkdir(parents=True)
    ark = ws.reference.municipalities[MUNICIPALITY].schools
    with ProcessPoolExecutor(2) as pool:
        list(
            pool.map(
                _make_return, [(str(donors_home), s.id, s.size, k) for k, s in enumerate(ark)], chunksize=8
            )
        )
    donors = sorted(
        str(p) for p in (donors_home / "inbox").glob("*.xlsx") if p.stat().st_size > 6000
    )  # not the truncated
    codes = [m for m in ws.reference.municipalities if m.startswith("c")]
    schools = [(s.id, m) for m in codes for s in ws.reference.municipalities[m].schools]
    chunks = [schools[i : i + 500] for i in range(0, len(schools), 500)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_clone, [(donors, i * 500, chunk) for i, chunk in enumerate(chunks)]))
    files = sorted(ws.inbox.glob("*.xlsx"))
    naive_s, floor_s = baselines(files[:40], files[:2000])
    ready_for_intake(ws)
    started = time.perf_counter()
    with ws.connect() as con:
        receive_inbox(ws, con, 0, only=None)
        results = [r for m in codes for r in process_pending(ws, con, m, PERIOD, answer=answer)]
        accepted = sum(r.verdict != "rejected" for r in results)
        flagged = sum(any(i.cell for i in r.issues) for r in results) / len(results)
        checked = time.perf_counter()
        for m in codes:
            publish(con, ws.reference, ws.out, m, PERIOD, ws.key, ws.journal)
    total = time.perf_counter() - started
    per_wb = (checked - started) / len(files)
    line(
        scenario=f"country_{len(files)}" + ("" if answer else "_unanswered"),
        n=len(files),
        wall_s=total,
        intake_s=checked - started,
        publish_s=total - (checked - started),
        per_workbook_ms=1000 * per_wb,
        ratio_vs_naive=naive_s / per_wb,
        ratio_vs_floor=per_wb / floor_s,
        naive_ms=1000 * naive_s,
        floor_ms=1000 * floor_s,
        feedback=answer,
        **({"flagged_share": flagged} if answer else {}),
        accepted=accepted,
        peak_rss_mb=peak_rss_mb(),
        children_peak_rss_mb=children_peak_rss_mb(),
    )


def _make_return(args) -> str:
    home, school, size, k = args
    from pipeline.config import Workspace
    from pipeline.xlsx.templates import write_template
    from samples.fake_school import fill, make_mistake, school_data

    out = Path(home) / "gen"
    template = write_template(
        out,
        Workspace.resolve(create=False, signing_key=DEMO_SIGNING_KEY).issuer,
        MUNICIPALITY,
        PERIOD,
        school,
        date(2025, 10, 1),
    )
    data = school_data(template, k, size, date(2025, 12, 20))
    if k % 10 in FLAGGED:  # the first round of a new form: errors and warnings of the kinds the demo has
        make_mistake(data, BENCH_MISTAKES[k % len(BENCH_MISTAKES)])
    path = fill(template, Path(home) / "inbox" / f"{school}.xlsx", data)
    if k % 25 == 7:  # a broken upload
        path.write_bytes(path.read_bytes()[:5000])
    stamp = datetime(2025, 12, 20, 10).timestamp() + k
    os.utime(path, (stamp, stamp))
    return str(path)


def ready_for_intake(ws) -> None:
    """The state returns arrive in: the warehouse exists (templates were issued from it) and the inbox files are
    on disk (schools sent them days before)."""
    with ws.connect():
        pass
    os.sync()


def baselines(sample: list[Path], files: list[Path]) -> tuple[float, float]:
    """(naive on `sample`, floor on `files`), seconds per workbook, measured in a child process so that what they
    import and leave behind does not weigh on the pipeline measured after them."""
    with ProcessPoolExecutor(1) as pool:
        return pool.submit(naive, sample).result(), pool.submit(floor, files).result()


def naive(files: list[Path]) -> float:
    """pandas.read_excel with openpyxl plus pandera per sheet: seconds per workbook."""
    import pandas as pd
    import pandera.pandas as pa

    from contracts.catalogue import load_catalogue
    from contracts.schemas import sheet_schema

    catalogue = load_catalogue()
    started = time.perf_counter()
    for path in files:
        try:
            frames = pd.read_excel(path, sheet_name=None, engine="openpyxl", header=1)
        except Exception:
            continue
        for sheet in catalogue.sheets:
            frame = frames.get(sheet.title)
            if frame is None:
                continue
            try:
                sheet_schema(sheet.code).validate(frame, lazy=True)
            except (pa.errors.SchemaErrors, pa.errors.SchemaError, TypeError, ValueError):
                pass
    return (time.perf_counter() - started) / len(files)


def floor(files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        try:
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    if name.endswith(".xml"):
                        xml.parsers.expat.ParserCreate().Parse(z.read(name), True)
        except zipfile.BadZipFile:
            continue
    return (time.perf_counter() - started) / len(files)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """The largest peak of the processes this one started and waited for (intake workers, forked publishing
    helpers); a forked helper's counts the pages it shares with this process."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def line(**fields) -> None:
    print(
        " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()),
        flush=True,
    )


def run_region(n: int, scenario: str, answer: bool) -> None:
    """In a child process with SVOD_REFERENCE_DIR set: generate n returns, then time svod's intake on them
    REPEATS times (each into a fresh workspace, with the baselines measured just before it) and report medians;
    the last workspace is published and takes one resubmission."""
    from pipeline.config import Workspace
    from pipeline.intake.steps import process_pending, receive_inbox
    from pipeline.publish.municipal import publish

    generated = Path(os.environ["SVOD_HOME"]) / "generated"
    (generated / "inbox").mkdir(parents=True)
    schools = Workspace.resolve(create=False).reference.municipalities[MUNICIPALITY].schools
    with ProcessPoolExecutor(2) as pool:
        list(
            pool.map(
                _make_return, [(str(generated), s.id, s.size, k) for k, s in enumerate(schools)], chunksize=8
            )
        )
    files = sorted((generated / "inbox").glob("*.xlsx"))
    sample = files[: min(40, len(files))]
    runs, ws = [], None
    for repeat in range(REPEATS):
        if ws is not None:  # each repeat starts from the same state: no earlier workspace on disk
            shutil.rmtree(ws.home)
        ws = Workspace.resolve(Path(os.environ["SVOD_HOME"]) / f"run{repeat}", signing_key=DEMO_SIGNING_KEY)
        for f in files:
            shutil.copy2(f, ws.inbox / f.name)
        naive_s, floor_s = baselines(sample, files)
        ready_for_intake(ws)
        started = time.perf_counter()
        with ws.connect() as con:
            receive_inbox(ws, con, 0, only=None)
            results = process_pending(ws, con, MUNICIPALITY, PERIOD, answer=answer)
            accepted = sum(r.verdict != "rejected" for r in results)
            flagged = sum(any(i.cell for i in r.issues) for r in results) / len(results)
            checked = time.perf_counter()
            publish(con, ws.reference, ws.out, MUNICIPALITY, PERIOD, ws.key, ws.journal)
        per = (checked - started) / len(files)
        wall = time.perf_counter() - started
        runs.append(
            {
                "wall_s": wall,
                "intake_s": checked - started,
                "publish_s": wall - (checked - started),
                "per": per,
                "naive_s": naive_s,
                "floor_s": floor_s,
                "vs_naive": naive_s / per,
                "vs_floor": per / floor_s,
            }
        )
    middle = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    line(
        scenario=scenario,
        n=len(files),
        repeats=REPEATS,
        wall_s=middle["wall_s"],
        intake_s=middle["intake_s"],
        publish_s=middle["publish_s"],  # each repeat's, the median of them
        per_workbook_ms=1000 * middle["per"],
        ratio_vs_naive=middle["vs_naive"],
        ratio_vs_floor=middle["vs_floor"],
        naive_ms=1000 * middle["naive_s"],
        floor_ms=1000 * middle["floor_s"],
        per_workbook_ms_each="/".join(f"{1000 * r['per']:.2f}" for r in runs),
        publish_s_each="/".join(f"{r['publish_s']:.2f}" for r in runs),
        ratio_vs_floor_each="/".join(f"{r['vs_floor']:.2f}" for r in runs),
        feedback=answer,
        **({"flagged_share": flagged} if answer else {}),
        accepted=accepted,
        peak_rss_mb=peak_rss_mb(),
        children_peak_rss_mb=children_peak_rss_mb(),
    )
    if scenario.startswith("region") and answer:
        resubmit(ws, generated / "gen", len(files))


def resubmit(ws, templates: Path, n: int) -> None:
    """Corrected returns into the full region, one at a time (REPEATS of them, medians): from the file landing to
    the figures in the warehouse (received, checked, loaded, computed, stored: what the board and the cabinet's
    pages read), and to the new municipal workbook."""
    from pipeline.intake.steps import process_pending, receive_inbox
    from pipeline.publish.compute import compute, store
    from pipeline.publish.municipal import write_municipal
    from samples.fake_school import fill, school_data

    figures_s, workbook_s = [], []
    for k, template in enumerate(sorted(templates.glob("*.xlsx"))[:REPEATS]):
        school = template.stem.rsplit("_", 1)[-1]
        path = fill(
            template,
            ws.inbox / f"{school}_v2.xlsx",
            school_data(template, 424242 + k, "medium", date(2025, 12, 20)),
        )
        stamp = datetime(2025, 12, 22, 10, k).timestamp()
        os.utime(path, (stamp, stamp))
        started = time.perf_counter()
        with ws.connect() as con:
            receive_inbox(ws, con, 0, only=(MUNICIPALITY, PERIOD))
            process_pending(ws, con, MUNICIPALITY, PERIOD)
            run = compute(con, ws.reference, MUNICIPALITY, PERIOD)
            store(con, ws.reference, run, ws.journal)
            figures_s.append(time.perf_counter() - started)
            write_municipal(con, ws.reference, ws.out, run.run_id, ws.key)
        workbook_s.append(time.perf_counter() - started)
    line(
        scenario="resubmission_into_region",
        n=n,
        repeats=len(figures_s),
        to_figures_s=statistics.median(figures_s),
        to_workbook_s=statistics.median(workbook_s),
        to_figures_s_each="/".join(f"{t:.2f}" for t in figures_s),
        to_workbook_s_each="/".join(f"{t:.2f}" for t in workbook_s),
        peak_rss_mb=peak_rss_mb(),
    )


def annotate_copies(n: int) -> None:
    """The annotated copy of each flagged return: patching the school's file against re-writing it with openpyxl,
    in the same run (median per flagged return)."""
    from pipeline.config import Workspace
    from pipeline.intake.examine import check_file
    from pipeline.xlsx.annotated import rewrite
    from pipeline.xlsx.patch import patch

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "inbox").mkdir()
        ws = Workspace.resolve(home / "ws", signing_key=DEMO_SIGNING_KEY)
        files = [
            Path(_make_return((str(home), f"ARH-{k % 56 + 1:03d}", SIZES[k % len(SIZES)], k)))
            for k in range(n)
        ]
        flagged = []
        for path in files:
            result = check_file(path, ws.issuer, datetime(2025, 12, 21, 10))
            if result.book is not None and any(i.cell for i in result.issues):
                flagged.append((path, result.issues))
        patch_ms, openpyxl_ms = [], []
        for path, issues in flagged:
            started = time.perf_counter()
            (home / "patched.xlsx").write_bytes(patch(path.read_bytes(), issues))
            patch_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            rewrite(path, issues, home / "rewritten.xlsx")
            openpyxl_ms.append(1000 * (time.perf_counter() - started))
        per, slow = statistics.median(patch_ms), statistics.median(openpyxl_ms)
        line(
            scenario="annotate",
            n=len(flagged),
            per_file_ms=per,
            openpyxl_ms=slow,
            ratio=slow / per,
            worst_patch_ms=max(patch_ms),
            peak_rss_mb=peak_rss_mb(),
        )


def summary_rows(n: int) -> None:
    """Writing a 40,000-row indicator table (ОО × I01–I21) with the summary writer."""
    from pipeline.domain.indicators import INDICATORS
    from pipeline.xlsx.book import Book

    rng = random.Random(1)
    rows = [
        [f"ARH-{i:05d}", f"МБОУ «Школа № {i}»", *[round(rng.uniform(0, 100), 1) for _ in INDICATORS]]
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        book = Book(Path(tmp) / "big.xlsx")
        book.table(book.sheet("Показатели по ОО"), 0, ["Код ОО", "ОО", *[i.code for i in INDICATORS]], rows)
        path = book.close()
        line(
            scenario="summary_40k_rows",
            n=n,
            wall_s=time.perf_counter() - started,
            size_mb=path.stat().st_size / 1e6,
            peak_rss_mb=peak_rss_mb(),
        )


def child(scenario: str, n: int, answer: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference"
        if scenario.startswith("country"):
            synthetic_country(reference, n // 1000, 1000)
        else:
            synthetic_reference(reference, n)
        env = {**os.environ, "SVOD_REFERENCE_DIR": str(reference), "SVOD_HOME": str(Path(tmp) / "home")}
        subprocess.run(
            [sys.executable, __file__, "--child", json.dumps([scenario, n, answer])], env=env, check=True
        )


def main(args: list[str]) -> None:
    if args[:1] == ["--child"]:
        scenario, n, answer = json.loads(args[1])
        if scenario.startswith("country"):
            run_country(n // 1000, 1000, answer)
        else:
            run_region(n, scenario, answer)
        return
    wanted = set(args) or {"municipality", "annotate", "region", "summary"}
    if "municipality" in wanted:
        child("one_municipality", 56, True)
    if "annotate" in wanted:
        annotate_copies(60)
    if "region" in wanted:
        region = int(os.environ.get("SVOD_BENCH_REGION", 1000))
        child(f"region_{region}", region, True)  # the headline: every school gets its answer
        child(f"region_{region}_unanswered", region, False)
    if "summary" in wanted:
        summary_rows(40_000)
    if "country" in wanted:  # not in the default set: tens of minutes
        child("country", int(os.environ.get("SVOD_BENCH_COUNTRY", 40_000)), True)  # the headline, answered
    if "country_unanswered" in wanted:
        child("country_unanswered", int(os.environ.get("SVOD_BENCH_COUNTRY", 40_000)), False)


if __name__ == "__main__":
    main(sys.argv[1:])
