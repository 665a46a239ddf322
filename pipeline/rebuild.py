"""Rebuild the warehouse from the raw archive: every received file in the order it came, then every journaled
run, municipal and regional. The result must have the same content hash as the warehouse it replaces; approvals (staff decisions) and
summaries sent up by municipalities are not in the archive and are not replayed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pipeline.config import Workspace
from pipeline.intake import decisions
from pipeline.intake.inbox import ARRIVALS_LOG
from pipeline.intake.records import Received
from pipeline.intake.routing import claimed_identities
from pipeline.intake.steps import process_pending, take_in
from pipeline.publish import compute, regional
from pipeline.store.queries import content_hash
from pipeline.store.warehouse import connect


def archived_files(ws: Workspace) -> list[tuple[datetime, str, Path, str]]:
    """(received at, sha256, archived path, original name) for every registered file, oldest first, from the
    archive's arrivals log (and the per-file records archives kept before it)."""
    log = ws.archive / ARRIVALS_LOG
    records = (
        [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
        if log.exists()
        else []
    )
    records += [
        {**json.loads(meta.read_text(encoding="utf-8")), "sha256": meta.stem}
        for meta in ws.archive.glob("??/*.json")
    ]
    first: dict[str, tuple[datetime, str]] = {}
    for r in records:
        received_at = datetime.fromisoformat(r["received_at"])
        if r["sha256"] not in first or received_at < first[r["sha256"]][0]:
            first[r["sha256"]] = (received_at, r["original_name"])
    return sorted((received_at, sha, _stored(ws, sha), name) for sha, (received_at, name) in first.items())


def _stored(ws: Workspace, sha: str) -> Path:
    return next(p for p in (ws.archive / sha[:2]).glob(f"{sha}.*") if p.suffix != ".json")


def rebuild(ws: Workspace, target: Path) -> str:
    """Build a fresh warehouse at `target` from `ws.archive`; returns its content hash."""
    target.unlink(missing_ok=True)
    with connect(target, memory_limit=ws.duckdb_memory, reference=ws.reference) as con:
        files = archived_files(ws)
        claims = claimed_identities([stored for _, _, stored, _ in files], ws.issuer)
        take_in(
            ws,
            con,
            [
                Received(stored, name, received_at, claimed)
                for (received_at, _, stored, name), claimed in zip(files, claims, strict=True)
            ],
            answer=False,
        )
        partitions = list(dict.fromkeys((claimed[1], claimed[2]) for claimed in claims if claimed[1]))
        for municipality, period in partitions:
            process_pending(ws, con, municipality, period, answer=False)
        decisions.replay(ws, con)  # after every file: a return marks the version current when it was made
        for journal in sorted(ws.journal.glob("*.json")):
            record = json.loads(journal.read_text(encoding="utf-8"))
            run = compute.compute(
                con, ws.reference, record["municipality"], record["period"], record["submissions"]
            )
            compute.store(con, ws.reference, run, as_of=journaled_as_of(record))
        published = [
            json.loads(p.read_text(encoding="utf-8"))
            for p in (ws.journal / regional.REGIONAL_JOURNAL).glob("*.json")
        ]
        for record in sorted(published, key=lambda r: r["published_at"]):
            cells = regional.municipal_figures(
                con, ws.reference, record["region"], record["periods"], record["runs"]
            )
            regional.store_totals(
                con,
                record["region"],
                record["periods"],
                cells,
                published_at=datetime.fromisoformat(record["published_at"]),
            )
        return content_hash(con)


def journaled_as_of(record: dict) -> datetime | None:
    """The date a journaled run was stored with (None in journals from before it was recorded)."""
    return datetime.fromisoformat(record["as_of"]) if record.get("as_of") else None
