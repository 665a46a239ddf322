"""Assets facing the schools before intake: the templates they fill and the reminder list before a deadline."""

import dagster as dg
import pandas as pd

from pipeline.assets.partitions import municipality_period
from pipeline.assets.resources import SvodWorkspace
from pipeline.assets.run_context import file_meta, md, partition_work
from pipeline.domain.vocabulary import Verdict
from pipeline.files import atomic_write
from pipeline.schools import issue_templates
from pipeline.store import queries


@dg.asset(partitions_def=municipality_period, group_name="schools", pool="duckdb", kinds={"excel"})
def school_templates(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Prefilled, signed templates for every ОО, registries carried forward from its last accepted return."""
    municipality, period, ws = partition_work(context, svod)
    out = ws.templates / municipality / period.replace("/", "-")
    with ws.connect() as con:
        paths, carried = issue_templates(con, ws.issuer, out, municipality, period)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(paths),
            "carried_forward": carried,
            "folder": dg.MetadataValue.path(str(out)),
        }
    )


@dg.asset(partitions_def=municipality_period, group_name="schools", pool="duckdb", kinds={"duckdb"})
def missing_reminders(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The list of ОО without an accepted return, with the deadline, for the department to remind."""
    municipality, period, ws = partition_work(context, svod)
    m = ws.reference.municipalities[municipality]
    with ws.connect() as con:
        states = queries.school_states(con, municipality, period)
    rejected = states[(states["verdict"] == Verdict.REJECTED) & ~states["has_accepted"]]
    never = states[states["verdict"].isna()]
    missing = pd.concat([rejected, never])
    deadline = m.period(period).deadline
    path = atomic_write(
        ws.outbox / "_напоминания" / f"{context.partition_key}.txt",
        f"{m.name}, период {period}: срок сдачи {deadline:%d.%m.%Y}.\n"
        f"Нет принятого отчёта у {len(missing)} из {len(states)} ОО.\n"
        f"\nОтчёт отклонён, ждём исправленную версию ({len(rejected)}):\n"
        + "".join(f"- {s.school_id} {s.name}: {s.reason}\n" for s in rejected.itertuples())
        + f"\nОтчёт не поступал ({len(never)}):\n"
        + "".join(f"- {s.school_id} {s.name}\n" for s in never.itertuples()),
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(missing),
            **file_meta(path),
            "rejected": md(rejected[["school_id", "name", "reason"]], "нет"),
            "never_sent": md(never[["school_id", "name"]], "все сдали"),
        }
    )
