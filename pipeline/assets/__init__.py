"""svod's assets, one per stage: templates → received files → checked returns → indicators → summaries.

Each asset is a thin shell over the pipeline modules. Partitioned assets work on one (municipality, period);
warehouse writers share the `duckdb` pool, limited to 1 in dagster.yaml.
"""

import hashlib
import warnings

import dagster as dg
import pandas as pd

from pipeline import summaries, warehouse
from pipeline.indicators import INDICATORS
from pipeline.intake import UNIDENTIFIED, process_pending, receive_inbox
from pipeline.issues import VERDICT_RU
from pipeline.partitions import PARTITION_TARGETS, municipality_period
from pipeline.reference import load_reference
from pipeline.resources import SvodWorkspace
from pipeline.templates import issue_templates
from pipeline.upstream import ingest_municipal_summaries

warnings.filterwarnings("ignore", category=dg.PreviewWarning)  # partitioned asset checks are in preview in 1.13
SETTLE_TAG = "svod/settle"


def _target(context) -> tuple[str, str]:
    return PARTITION_TARGETS[context.partition_key]


def _settle(context) -> float:
    return float(context.run.tags.get(SETTLE_TAG, 2))


def _md(frame: pd.DataFrame, empty: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else empty)


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
def unidentified_returns(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Inbox files that are not a return we issued (broken, foreign, edited): archived, rejected, answered."""
    with svod.connection() as con:
        taken = receive_inbox(svod.workspace(), con, _settle(context), only=UNIDENTIFIED)
    frame = pd.DataFrame(taken, columns=["name", "sha256", "duplicate", "school_id"])
    return dg.MaterializeResult(metadata={"dagster/row_count": len(taken),
                                          "files": _md(frame.drop(columns="school_id"), "нет")})


@dg.asset(partitions_def=municipality_period, group_name="intake", pool="duckdb", kinds={"duckdb"})
def received_files(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """This partition's inbox files, moved byte for byte into the content-addressed archive and registered."""
    with svod.connection() as con:
        taken = receive_inbox(svod.workspace(), con, _settle(context), only=_target(context))
    frame = pd.DataFrame(taken, columns=["school_id", "name", "sha256", "duplicate"])
    frame["sha256"] = frame["sha256"].str[:12]
    return dg.MaterializeResult(metadata={"dagster/row_count": len(taken), "duplicates": int(frame["duplicate"].sum()),
                                          "files": _md(frame, "новых файлов нет")})


@dg.asset(partitions_def=municipality_period, deps=[received_files], group_name="intake", pool="duckdb", kinds={"duckdb"})
def checked_returns(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Pending returns checked, answered (annotated copy and receipt in the outbox) and loaded by verdict."""
    municipality, period = _target(context)
    with svod.connection() as con:
        results = process_pending(svod.workspace(), con, municipality, period)
        counts = con.execute("SELECT verdict, count(*) FROM submission WHERE municipality = ? AND period = ? "
                             "GROUP BY 1 ORDER BY 1", [municipality, period]).fetchall()
    table = pd.DataFrame([{"ОО": r.school_id, "файл": r.original_name, "решение": VERDICT_RU[r.verdict],
                           "ошибок": sum(i.severity == "error" for i in r.issues),
                           "предупреждений": sum(i.severity == "warning" for i in r.issues)} for r in results])
    return dg.MaterializeResult(metadata={"dagster/row_count": len(results), **{f"verdict/{v}": n for v, n in counts},
                                          "verdicts": _md(table, "новых файлов нет")})


@dg.asset(partitions_def=municipality_period, deps=[checked_returns], group_name="publish", pool="duckdb", kinds={"duckdb"})
def indicators(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Indicators per ОО and for the municipality, stored with the source cells of every figure."""
    municipality, period = _target(context)
    with svod.connection() as con:
        run = summaries.compute(con, municipality, period)
        summaries.store(con, municipality, period, run, svod.workspace().journal)
    totals = pd.DataFrame([{"код": f.indicator, "значение": f.value, "числитель": f.numerator, "знаменатель": f.denominator}
                           for f in run.figures if f.level == "municipality"])
    return dg.MaterializeResult(metadata={"run_id": run.run_id, "dagster/row_count": len(run.figures),
                                          "schools": len(run.subs), "returns_seen": len(run.snapshot),
                                          "municipal_totals": _md(totals, "нет данных")})


@dg.asset(partitions_def=municipality_period, deps=[indicators], group_name="publish", pool="duckdb", kinds={"excel"})
def municipal_summary(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The municipal summary workbook (coverage, indicators, targets, roadmap, quality, lineage)."""
    municipality, period = _target(context)
    ws = svod.workspace()
    with svod.connection() as con:
        path, run_id, n = summaries.write_municipal(con, ws.out, municipality, period, ws.signing_key,
                                                       journal=ws.journal)
    return dg.MaterializeResult(metadata={**_file_meta(path), "run_id": run_id, "dagster/row_count": n})


@dg.asset(deps=[municipal_summary], group_name="publish", pool="duckdb", kinds={"excel"})
def regional_summary(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Regional workbooks (aggregates only) from each municipality's latest period, local or sent up."""
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


@dg.asset(partitions_def=municipality_period, group_name="schools", pool="duckdb", kinds={"duckdb"})
def missing_reminders(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The list of ОО without an accepted return, with the deadline, for the department to remind."""
    municipality, period = _target(context)
    ws = svod.workspace()
    m = load_reference().municipalities[municipality]
    with svod.connection() as con:
        done = {r[0] for r in con.execute("SELECT school_id FROM current_submission WHERE municipality = ? AND period = ?",
                                          [municipality, period]).fetchall()}
    missing = [s for s in m.schools if s.id not in done]
    deadline = m.period(period).deadline
    path = ws.outbox / "_напоминания" / f"{context.partition_key}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{m.name}, период {period}: срок сдачи {deadline:%d.%m.%Y}.\n"
                    f"Нет принятого отчёта у {len(missing)} из {len(m.schools)} ОО:\n"
                    + "".join(f"- {s.id} {s.name}\n" for s in missing), encoding="utf-8")
    return dg.MaterializeResult(metadata={"dagster/row_count": len(missing), **_file_meta(path),
                                          "missing": _md(pd.DataFrame([{"ОО": s.id, "наименование": s.name} for s in missing]), "все сдали")})


@dg.asset_check(asset=checked_returns, blocking=True, partitions_def=municipality_period)
def rows_reconcile(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """Rows read = rows loaded + rows of rejected returns, and the fact tables hold exactly the loaded rows."""
    municipality, period = PARTITION_TARGETS[context.partition_key]
    with svod.connection() as con:
        read, loaded, rejected = con.execute(
            "SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
            "coalesce(sum(CASE WHEN verdict = 'rejected' THEN rows_read ELSE 0 END), 0) "
            "FROM submission WHERE municipality = ? AND period = ? AND verdict NOT IN ('pending', 'held')",
            [municipality, period]).fetchone()
        facts = warehouse.fact_rows(con, municipality, period)
    return dg.AssetCheckResult(passed=bool(read == loaded + rejected and facts == loaded),
                               metadata={"rows_read": int(read), "rows_loaded": int(loaded),
                                         "rows_rejected": int(rejected), "fact_rows": int(facts)})


@dg.asset_check(asset=checked_returns, blocking=True, partitions_def=municipality_period)
def contracts_hold(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """Every loaded fact row of the current returns still satisfies its sheet's pandera contract."""
    municipality, period = PARTITION_TARGETS[context.partition_key]
    with svod.connection() as con:
        failures = warehouse.contract_failures(con, municipality, period)
    return dg.AssetCheckResult(passed=failures.empty, metadata={
        "num_failures": len(failures), "failures": _md(failures.head(20), "нарушений нет")})


@dg.asset_check(asset=indicators, blocking=True, partitions_def=municipality_period)
def totals_reconcile(context: dg.AssetCheckExecutionContext, svod: SvodWorkspace) -> dg.AssetCheckResult:
    """For every indicator, the municipal numerator and denominator equal the sums over its ОО."""
    municipality, period = PARTITION_TARGETS[context.partition_key]
    with svod.connection() as con:
        rows = con.execute(
            "SELECT indicator, sum(numerator) FILTER (WHERE level = 'school') AS s_num, "
            "max(numerator) FILTER (WHERE level = 'municipality') AS m_num, "
            "coalesce(sum(denominator) FILTER (WHERE level = 'school'), 0) AS s_den, "
            "coalesce(max(denominator) FILTER (WHERE level = 'municipality'), 0) AS m_den "
            "FROM figure WHERE run_id = (SELECT run_id FROM published_run WHERE municipality = ? AND period = ?) "
            "GROUP BY indicator", [municipality, period]).df()
    bad = rows[(rows["s_num"].fillna(0) != rows["m_num"]) | (rows["s_den"] != rows["m_den"])]
    return dg.AssetCheckResult(passed=bad.empty and len(rows) == len(INDICATORS),
                               metadata={"indicators": len(rows), "mismatches": _md(bad, "нет")})


ASSETS = [school_templates, unidentified_returns, received_files, checked_returns, indicators, municipal_summary,
          regional_summary, missing_reminders]
CHECKS = [rows_reconcile, contracts_hold, totals_reconcile]
