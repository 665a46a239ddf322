"""Blocking asset checks: the load matches the files (`rows_reconcile`), loaded facts keep their contracts
(`contracts_hold`), and municipal totals are the sums over ОО (`totals_reconcile`). A failed check stops the
partition's later stages, so a bad load is never published."""

import warnings

import dagster as dg

from pipeline.assets.intake import checked_returns
from pipeline.assets.partitions import municipality_period
from pipeline.assets.publishing import indicators
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import md, target
from pipeline.domain.indicators import BY_CODE, INDICATORS
from pipeline.intake.verify import load_mismatches
from pipeline.rules.contracts import loaded_failures
from pipeline.store import queries

warnings.filterwarnings(
    "ignore", category=dg.PreviewWarning
)  # partitioned asset checks are in preview in 1.13


@dg.asset_check(asset=checked_returns, blocking=True, partitions_def=municipality_period)
def rows_reconcile(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """Fact rows of every current return equal the rows it was loaded with, and, for the newest returns, the
    rows read again from their archived files."""
    municipality, period = target(context)
    ws = svod.workspace()
    with ws.connect() as con:
        bad = load_mismatches(con, ws.home, municipality, period)
    return dg.AssetCheckResult(
        passed=bad.empty, metadata={"mismatches": len(bad), "details": md(bad.head(20), "нет")}
    )


@dg.asset_check(asset=checked_returns, blocking=True, partitions_def=municipality_period)
def contracts_hold(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """Every loaded fact row of the current returns still satisfies its sheet's pandera contract."""
    municipality, period = target(context)
    with svod.connection() as con:
        shas = list(queries.current_returns(con, queries.snapshot(con, municipality, period))["sha256"])
        failures = loaded_failures(queries.facts_of(con, shas))
    return dg.AssetCheckResult(
        passed=failures.empty,
        metadata={"num_failures": len(failures), "failures": md(failures.head(20), "нарушений нет")},
    )


@dg.asset_check(asset=indicators, blocking=True, partitions_def=municipality_period)
def totals_reconcile(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """For every indicator of the published run, the municipal numerator and denominator equal the sums over ОО
    (a maximum: the largest; what ОО share, at most the sum; per file: over every file received); a share over
    the registry has the registry's ОО as its denominator."""
    municipality, period = target(context)
    ws = svod.workspace()
    with ws.connect() as con:
        run_id = queries.published_run(con, municipality, period)
        if run_id is None:
            return dg.AssetCheckResult(
                passed=True, metadata={"run_id": "", "note": "нет расчёта: нет принятых отчётов"}
            )
        rows = queries.totals_and_parts(con, run_id, [i.code for i in INDICATORS if i.per_file])
    ind = rows["indicator"].map(BY_CODE)
    registry = ind.map(lambda i: i.registry)
    school_num = rows["s_max"].where(ind.map(lambda i: bool(i.largest)), rows["s_num"]).fillna(0)
    expected_den = rows["s_den"].where(~registry, len(ws.reference.municipalities[municipality].schools))
    shared = ind.map(lambda i: i.shared is not None)  # counted once across ОО: never more than the sum
    bad = rows[
        (~registry & ~shared & (school_num != rows["m_num"]))
        | (shared & (rows["m_num"] > school_num))
        | (expected_den != rows["m_den"])
    ]
    return dg.AssetCheckResult(
        passed=bad.empty and len(rows) == len(INDICATORS),
        metadata={"run_id": run_id or "", "indicators": len(rows), "mismatches": md(bad, "нет")},
    )
