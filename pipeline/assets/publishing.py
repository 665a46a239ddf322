"""Publishing assets: a partition's run computed and stored, its municipal workbook rendered from that stored run,
and the regional workbooks from each municipality's published run."""

import dagster as dg

from pipeline.assets.intake import staff_decisions
from pipeline.assets.partitions import municipality_period
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import file_meta, md, partition_work, regions_of
from pipeline.domain.vocabulary import Level
from pipeline.intake.upstream import ingest_municipal_summaries
from pipeline.publish import compute, municipal, regional
from pipeline.store import queries


@dg.asset(
    partitions_def=municipality_period,
    deps=[staff_decisions],
    group_name="publish",
    pool="duckdb",
    kinds={"duckdb"},
)
def indicators(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Indicators per ОО and for the municipality, stored with the source cells of every figure."""
    municipality, period, ws = partition_work(context, svod)
    with ws.connect() as con:
        run = compute.compute(con, ws.reference, municipality, period)
        if run.subs.empty:  # no accepted return yet: a summary of zeros is no document
            return dg.MaterializeResult(
                metadata={
                    "run_id": "",
                    "schools": 0,
                    "returns_seen": len(run.snapshot),
                    "note": "нет принятых отчётов: показатели не рассчитаны",
                }
            )
        compute.store(con, ws.reference, run, ws.journal)
    municipal = run.figures[run.figures["level"].eq(Level.MUNICIPALITY.value)]
    totals = municipal[["indicator", "value", "numerator", "denominator"]].set_axis(
        ["код", "значение", "числитель", "знаменатель"], axis=1
    )
    return dg.MaterializeResult(
        metadata={
            "run_id": run.run_id,
            "dagster/row_count": len(run.figures),
            "schools": len(run.subs),
            "returns_seen": len(run.snapshot),
            "municipal_totals": md(totals, "нет данных"),
        }
    )


@dg.asset(
    partitions_def=municipality_period,
    deps=[indicators],
    group_name="publish",
    pool="duckdb",
    kinds={"excel"},
)
def municipal_summary(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The municipal summary workbook of the partition's published run (the one the indicator checks verified)."""
    municipality, period, ws = partition_work(context, svod)
    with ws.connect() as con:
        run_id = queries.published_run(con, municipality, period)
        if run_id is None:
            return dg.MaterializeResult(
                metadata={"run_id": "", "note": "сводка не выпущена: нет принятых отчётов"}
            )
        path = municipal.write_municipal(con, ws.reference, ws.out, run_id, ws.key)
    return dg.MaterializeResult(metadata={**file_meta(path), "run_id": run_id})


@dg.asset(deps=[municipal_summary], group_name="publish", pool="duckdb", kinds={"excel"})
def regional_summary(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Regional workbooks (aggregates only) from each municipality's latest period, local or sent up."""
    ws = svod.workspace()
    ref = ws.reference
    written = []
    with ws.connect() as con:
        upstream = ingest_municipal_summaries(ws, con)
        latest = queries.latest_periods(con)
        for region in regions_of(context, ws):
            periods = {m.code: latest[m.code] for m in ref.municipalities_of(region) if m.code in latest}
            if periods:
                written.append(regional.write_regional(con, ref, ws.out, region, periods, ws.journal))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(written),
            "files": dg.MetadataValue.md("\n".join(f"- {p}" for p in written) or "нет"),
            "upstream": dg.MetadataValue.md(
                "\n".join(f"- {u.message}" for u in upstream) or "сводок муниципалитетов нет"
            ),
        }
    )
