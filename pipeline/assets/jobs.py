"""Jobs staff and automation launch: one partition's consolidation, answering unidentified files, the regional
summary and the reminder list. Asset selections only; no logic here."""

import dagster as dg

from pipeline.assets.intake import checked_returns, received_files, staff_decisions, unidentified_returns
from pipeline.assets.publishing import indicators, municipal_summary, regional_summary
from pipeline.assets.schools import missing_reminders

PARTITION_STAGES = ["received_files", "checked_returns", "staff_decisions", "indicators", "municipal_summary"]

consolidate_partition = dg.define_asset_job(
    "consolidate_partition",
    selection=[received_files, checked_returns, staff_decisions, indicators, municipal_summary],
    description="Принять файлы ОО муниципалитета за период, проверить, загрузить, учесть решения методиста и выпустить сводку.",
)
answer_unidentified = dg.define_asset_job(
    "answer_unidentified",
    selection=[unidentified_returns],
    description="Ответить на файлы, которые не являются выданными шаблонами.",
)
publish_regional = dg.define_asset_job(
    "publish_regional", selection=[regional_summary], description="Выпустить региональные сводки."
)
remind_missing = dg.define_asset_job(
    "remind_missing",
    selection=[missing_reminders],
    description="Список ОО без принятого отчёта перед сроком сдачи.",
)

JOBS = [consolidate_partition, answer_unidentified, publish_regional, remind_missing]
