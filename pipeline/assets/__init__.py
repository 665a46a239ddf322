"""svod's assets, one per stage: templates → received files → checked returns → municipal and regional summaries.

Each asset is a thin shell over the pipeline modules; warehouse writers share the `duckdb` pool (limit 1).
"""


import hashlib
import warnings

import dagster as dg
import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline import summaries, warehouse
from pipeline.intake import process_pending, receive_inbox
from pipeline.issues import VERDICT_RU
from pipeline.partitions import PARTITION_TARGETS, municipality_period
from pipeline.reference import load_reference
from pipeline.resources import SvodWorkspace
from pipeline.templates import issue_templates
from pipeline.upstream import ingest_municipal_summaries

warnings.filterwarnings("ignore", category=dg.PreviewWarning)  # partitioned asset checks are in preview in 1.13


def _target(context) -> tuple[str, str]:
    return PARTITION_TARGETS[context.partition_key]


def _file_meta(path) -> dict:
    return {"path": dg.MetadataValue.path(str(path)), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@dg.asset(partitions_def=municipality_period, group_name="schools", pool="duckdb", kinds={"excel"})
def school_templates(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Prefilled, signed templates for every ОО, registries carried forward from its last accepted return."""
    municipality, period = _target(context)
    ws = svod.workspace()
    out = ws.templates / municipality / period.replace("/", "-")
    with svod.connection() as con:
        paths, carried = issue_templates(con, ws, out, municipality, period)
    return dg.MaterializeResult(metadata={"dagster/row_count": len(paths), "carried_forward": carried,
                                          "folder": dg.MetadataValue.path(str(out))})


@dg.asset(group_name="intake", pool="duckdb", kinds={"duckdb"})
def received_files(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Inbox files moved byte for byte into the content-addressed archive and registered."""
    ws = svod.workspace()
    with svod.connection() as con:
        taken = receive_inbox(ws, con, settle_seconds=float(context.run.tags.get("svod/settle", 2)))
    frame = pd.DataFrame(taken or [{"sha256": "", "name": "", "duplicate": False}])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(taken), "duplicates": int(frame["duplicate"].sum()) if taken else 0,
        "files": dg.MetadataValue.md(frame.assign(sha256=frame["sha256"].str[:12]).to_markdown(index=False))})


@dg.asset(partitions_def=municipality_period, deps=[received_files], group_name="intake", pool="duckdb", kinds={"duckdb"})
def checked_returns(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Pending returns of the partition checked, answered (feedback in outbox) and loaded by verdict."""
    municipality, period = _target(context)
    ws = svod.workspace()
    with svod.connection() as con:
        results = process_pending(ws, con, municipality, period)
        counts = con.execute("SELECT verdict, count(*) FROM submission WHERE municipality = ? AND period = ? GROUP BY 1 ORDER BY 1",
                             [municipality, period]).fetchall()
    table = pd.DataFrame([{"ОО": r.school_id, "файл": r.original_name, "решение": VERDICT_RU[r.verdict],
                           "ошибок": sum(i.severity == "error" for i in r.issues)} for r in results])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(results), **{f"verdict/{v}": n for v, n in counts},
        "verdicts": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "новых файлов нет")})


@dg.asset_check(asset=checked_returns, blocking=True, partitions_def=municipality_period)
def rows_reconcile(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """Rows read = rows loaded + rows of rejected returns, for every checked return of the partition."""
    municipality, period = PARTITION_TARGETS[context.partition_key]
    with svod.connection() as con:
        read, loaded, rejected = con.execute(
            "SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
            "coalesce(sum(CASE WHEN verdict = 'rejected' THEN rows_read ELSE 0 END), 0) "
            "FROM submission WHERE municipality = ? AND period = ? AND verdict <> 'pending'", [municipality, period]).fetchone()
        facts = sum(con.execute(f"SELECT count(*) FROM {warehouse.fact_table(s)} f JOIN submission s USING (sha256) "
                                "WHERE s.municipality = ? AND s.period = ?", [municipality, period]).fetchone()[0]
                    for s in [t.code for t in load_catalogue().sheets])
    return dg.AssetCheckResult(passed=bool(read == loaded + rejected and facts == loaded),
                               metadata={"rows_read": int(read), "rows_loaded": int(loaded), "rows_rejected": int(rejected),
                                         "fact_rows": int(facts)})


@dg.asset(partitions_def=municipality_period, deps=[checked_returns], group_name="publish", pool="duckdb", kinds={"excel"})
def municipal_summary(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The municipal summary workbook, with every figure's lineage stored in the warehouse."""
    municipality, period = _target(context)
    ws = svod.workspace()
    with svod.connection() as con:
        path, run_id, n = summaries.write_municipal(con, ws.out, municipality, period, ws.signing_key)
    return dg.MaterializeResult(metadata={**_file_meta(path), "run_id": run_id, "dagster/row_count": n})


@dg.asset(deps=[municipal_summary], group_name="publish", pool="duckdb", kinds={"excel"})
def regional_summary(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Regional workbooks (aggregates only) from each municipality's latest published period."""
    ws = svod.workspace()
    ref = load_reference()
    written = []
    with svod.connection() as con:
        upstream = ingest_municipal_summaries(ws, con)
        latest = dict(con.execute("SELECT r.municipality, arg_max(r.period, p.end_date) FROM run r "
                                  "JOIN period p ON p.municipality = r.municipality AND p.code = r.period GROUP BY 1").fetchall())
        for region in ref.regions:
            periods = {m.code: latest[m.code] for m in ref.municipalities_of(region) if m.code in latest}
            if periods:
                written.append(summaries.write_regional(con, ws.out, region, periods))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(written),
        "files": dg.MetadataValue.md("\n".join(f"- {p}" for p in written) or "нет"),
        "upstream": dg.MetadataValue.md("\n".join(f"- {u.message}" for u in upstream) or "сводок муниципалитетов нет")})


ASSETS = [school_templates, received_files, checked_returns, municipal_summary, regional_summary]
CHECKS = [rows_reconcile]
