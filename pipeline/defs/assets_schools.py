"""Assets facing the schools before intake: the templates they fill and the reminder list before a deadline."""


import dagster as dg
import pandas as pd

from pipeline.defs.common import file_meta, md, partition_work
from pipeline.defs.partitions import municipality_period
from pipeline.defs.resources import SvodWorkspace
from pipeline.files import atomic_write
from pipeline.reference import load_reference
from pipeline.schools import issue_templates


@dg.asset(partitions_def=municipality_period, group_name="schools", pool="duckdb", kinds={"excel"})
def school_templates(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """Prefilled, signed templates for every ОО, registries carried forward from its last accepted return."""
    municipality, period, ws = partition_work(context, svod)
    out = ws.templates / municipality / period.replace("/", "-")
    with ws.connect() as con:
        paths, carried = issue_templates(con, ws.key, out, municipality, period)
    return dg.MaterializeResult(metadata={"dagster/row_count": len(paths), "carried_forward": carried,
                                          "folder": dg.MetadataValue.path(str(out))})


@dg.asset(partitions_def=municipality_period, group_name="schools", pool="duckdb", kinds={"duckdb"})
def missing_reminders(context: dg.AssetExecutionContext, svod: SvodWorkspace) -> dg.MaterializeResult:
    """The list of ОО without an accepted return, with the deadline, for the department to remind."""
    municipality, period, ws = partition_work(context, svod)
    m = load_reference().municipalities[municipality]
    with ws.connect() as con:
        done = {r[0] for r in con.execute("SELECT school_id FROM current_submission WHERE municipality = ? AND period = ?",
                                          [municipality, period]).fetchall()}
    missing = [s for s in m.schools if s.id not in done]
    deadline = m.period(period).deadline
    path = atomic_write(ws.outbox / "_напоминания" / f"{context.partition_key}.txt",
                        f"{m.name}, период {period}: срок сдачи {deadline:%d.%m.%Y}.\n"
                        f"Нет принятого отчёта у {len(missing)} из {len(m.schools)} ОО:\n"
                        + "".join(f"- {s.id} {s.name}\n" for s in missing))
    return dg.MaterializeResult(metadata={"dagster/row_count": len(missing), **file_meta(path), "missing": md(
        pd.DataFrame([{"ОО": s.id, "наименование": s.name} for s in missing]), "все сдали")})
