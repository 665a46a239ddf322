"""Sensors: the inbox watcher, the runs staff ask for, and the regional follow-up. Decisions only; the work happens
in the assets. The regional follow-up compares what is published with what its last run saw (keys of the
municipal runs a region's summary is made of), so it follows every way a municipal run came about.

Before requesting runs, the inbox sensor marks runs left dead by a killed process as failed, freeing the pool.
The inbox sensor asks one run per partition for the files new since its last look (keyed on their content hashes)
and keeps a JSON cursor of the hashes it has seen, so a file is picked up once and a changed file (new bytes)
again; a thousand files dropped at once are one run, not a thousand. The staff sensor keys each run on the request's id
(`pipeline.intake.run_requests`): the cabinet asks Dagster for runs; it keeps no queue of its own.
"""

import hashlib
import json

import dagster as dg
import duckdb

from pipeline.assets.jobs import answer_unidentified, consolidate_partition, publish_regional
from pipeline.assets.partitions import partition_key
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import SETTLE_TAG, regions_tag
from pipeline.assets.stale_runs import reap_dead_runs
from pipeline.intake import run_requests
from pipeline.intake.inbox import settled_files, sha256_of
from pipeline.intake.routing import claimed_identities
from pipeline.store import queries
from pipeline.store.warehouse import WarehouseBusy

SETTLE_SECONDS = 2.0


@dg.sensor(
    jobs=[consolidate_partition, answer_unidentified],
    minimum_interval_seconds=15,  # with the run and the cabinet's next look: on the board within a minute
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Новые файлы в папке inbox.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, svod: SvodWorkspace) -> dg.SensorResult:
    reap_dead_runs(
        context.instance
    )  # a killed run must not hold the warehouse pool the new runs will wait on
    ws = svod.workspace()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests, new = [], {}
    for path in settled_files(ws.inbox, SETTLE_SECONDS):
        digest = sha256_of(path.read_bytes())
        if digest not in seen and digest not in new:
            new[digest] = path
    arrived: dict[tuple[str, str], list[str]] = {}  # partition -> digests of its new files
    for (digest, path), (_, municipality, period) in zip(
        new.items(), claimed_identities(list(new.values()), ws.issuer), strict=True
    ):
        seen[digest] = path.name
        arrived.setdefault((municipality or "", period or ""), []).append(digest)
    for (municipality, period), digests in arrived.items():  # one run per partition, however many files
        run_key = hashlib.sha256("|".join(sorted(digests)).encode()).hexdigest()
        if municipality:
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    job_name=consolidate_partition.name,
                    partition_key=partition_key(municipality, period),
                    tags={SETTLE_TAG: "0"},
                )
            )
        else:
            requests.append(
                dg.RunRequest(run_key=run_key, job_name=answer_unidentified.name, tags={SETTLE_TAG: "0"})
            )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, ensure_ascii=False, sort_keys=True))


@dg.sensor(
    jobs=[consolidate_partition, publish_regional],
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Своды, которые запросили методисты и регион в кабинете.",
)
def staff_requests(context: dg.SensorEvaluationContext, svod: SvodWorkspace) -> dg.SensorResult:
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    kept = run_requests.waiting(svod.workspace(), set())  # the cursor forgets the requests no longer kept
    return dg.SensorResult(
        run_requests=[run_request_for(a) for a in kept if a.id not in seen],
        cursor=json.dumps(sorted(a.id for a in kept)),
    )


def run_request_for(asked: run_requests.RunAsked) -> dg.RunRequest:
    """The run a staff request asks for: one partition's consolidation, or one region's summary."""
    tags = {run_requests.REQUEST_TAG: asked.id, SETTLE_TAG: "0"}
    if asked.kind == "regional":
        return dg.RunRequest(
            run_key=asked.id, job_name=publish_regional.name, tags=tags | regions_tag([asked.region])
        )
    return dg.RunRequest(
        run_key=asked.id,
        job_name=consolidate_partition.name,
        partition_key=partition_key(asked.municipality, asked.period),
        tags=tags | regions_tag([asked.region]),
    )


@dg.sensor(
    job=publish_regional,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Сводка региона отстаёт от сводок его муниципалитетов: выпустить заново.",
)
def regional_follows(context: dg.SensorEvaluationContext, svod: SvodWorkspace):
    """A regional run for each region whose municipalities' published runs changed, keyed on those runs: each
    state is published once, however it came (a sensor's run, `svod run`, the cabinet), and none is missed."""
    ws = svod.workspace()
    try:
        with ws.connect(read_only=True, wait=0) as con:
            published = queries.published_runs(con)
    except (WarehouseBusy, duckdb.Error):  # being written, or not made yet: the next look
        return dg.SkipReason("хранилище занято или ещё не создано")
    requests = []
    for region in ws.reference.regions:
        runs = sorted(
            published[m.code] for m in ws.reference.municipalities_of(region) if m.code in published
        )
        if runs:
            key = f"{region}:{hashlib.sha256('|'.join(runs).encode()).hexdigest()[:16]}"
            requests.append(dg.RunRequest(run_key=key, tags=regions_tag([region])))
    return requests


SENSORS = [inbox_sensor, staff_requests, regional_follows]
