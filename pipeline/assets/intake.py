"""Intake assets: files that are no known return, a partition's received files, its checked returns, and the staff
decisions on them."""

import dagster as dg
import pandas as pd

from pipeline.assets.partitions import municipality_period
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import md, partition_work, settle_seconds, target
from pipeline.domain.issues import counts
from pipeline.domain.vocabulary import NOT_SENT, Verdict
from pipeline.intake import decisions
from pipeline.intake.routing import UNIDENTIFIED
from pipeline.intake.steps import process_pending, receive_inbox
from pipeline.store import queries


@dg.asset(group_name="intake", pool="duckdb", kinds={"duckdb"})
def unidentified_returns(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Inbox files that are not a return we issued (broken, foreign, edited): archived, rejected, answered."""
    ws = svod.workspace()
    with ws.connect() as con:
        taken = receive_inbox(ws, con, settle_seconds(context), only=UNIDENTIFIED)
        every = queries.unidentified(con)
    frame = pd.DataFrame(taken, columns=["name", "sha256", "duplicate", "school_id"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(taken),
            "files_now": md(frame.drop(columns="school_id"), "нет"),
            "unidentified_total": len(every),
            "unidentified": md(every.head(50), "нет"),
        }
    )


@dg.asset(partitions_def=municipality_period, group_name="intake", pool="duckdb", kinds={"duckdb"})
def received_files(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """This partition's inbox files, moved byte for byte into the content-addressed archive and registered."""
    ws = svod.workspace()
    with ws.connect() as con:
        taken = receive_inbox(ws, con, settle_seconds(context), only=target(context))
    frame = pd.DataFrame(taken, columns=["school_id", "name", "sha256", "duplicate"])
    frame["sha256"] = frame["sha256"].str[:12]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(taken),
            "duplicates": int(frame["duplicate"].sum()),
            "files": md(frame, "новых файлов нет"),
        }
    )


@dg.asset(
    partitions_def=municipality_period,
    deps=[received_files],
    group_name="intake",
    pool="duckdb",
    kinds={"duckdb"},
)
def checked_returns(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Pending returns checked, answered (annotated copy and receipt in the outbox) and loaded by verdict."""
    municipality, period, ws = partition_work(context, svod)
    with ws.connect() as con:
        results = process_pending(ws, con, municipality, period)
        states = queries.school_states(con, municipality, period)
    now = pd.DataFrame(
        {
            "ОО": states["school_id"],
            "наименование": states["name"],
            "состояние": [Verdict(v).ru if isinstance(v, str) else NOT_SENT for v in states["verdict"]],
            "версия": states["version"],
            "причина": states["reason"].fillna(""),
        }
    )
    checked = pd.DataFrame(
        [
            {
                "ОО": r.school_id,
                "файл": r.original_name,
                "решение": r.verdict.ru,
                **dict(zip(("ошибок", "предупреждений"), counts(r.issues), strict=True)),
            }
            for r in results
        ]
    )
    failed = pd.DataFrame(
        [
            {"ОО": r.school_id, "файл": r.original_name, "причина": r.annotation_failure}
            for r in results
            if r.annotation_failure
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(results),
            **{f"schools/{k}": int(n) for k, n in now["состояние"].value_counts().items()},
            "schools": md(now, "реестр пуст"),
            "checked_now": md(checked, "новых файлов нет"),
            "missing": md(now[now["состояние"] == NOT_SENT][["ОО", "наименование"]], "все ОО сдали"),
            "annotation_failures": len(failed),
            "annotated_copies_failed": md(failed, "нет"),
        }
    )


@dg.asset(
    partitions_def=municipality_period,
    deps=[checked_returns],
    group_name="intake",
    pool="duckdb",
    kinds={"duckdb"},
)
def staff_decisions(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The methodists' decisions on this partition's returns (return for correction, acceptance, approval and its
    removal), applied to the warehouse in the order made; versions an unlock released are checked now."""
    municipality, period, ws = partition_work(context, svod)
    with ws.connect() as con:
        applied = decisions.apply_pending(ws, con, municipality, period)
        released = process_pending(ws, con, municipality, period) if applied else []
    frame = pd.DataFrame(
        [
            {"ОО": d.school_id, "решение": d.kind.ru, "когда": f"{d.made_at:%d.%m.%Y %H:%M}", "итог": outcome}
            for d, outcome in applied
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(applied),
            "decisions": md(frame, "новых решений нет"),
            "checked_after_unlock": len(released),
        }
    )
