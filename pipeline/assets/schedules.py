"""Schedules from each municipality's reporting calendar: a reminder list of missing ОО in the days before a
deadline, and consolidation the day after it. One schedule per municipality, evaluated daily."""

from datetime import timedelta

import dagster as dg

from pipeline.assets.jobs import PARTITION_STAGES
from pipeline.assets.partitions import LOCATION_REFERENCE, partition_key
from pipeline.reference import Municipality

REMIND = ["missing_reminders"]


def calendar_schedule(m: Municipality) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"calendar_{m.code}",
        cron_schedule="0 8 * * *",
        execution_timezone="Europe/Moscow",
        target=dg.AssetSelection.assets(*REMIND, *PARTITION_STAGES),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"{m.name}: напоминание за {m.reminder_days} дней до срока и свод на следующий день после срока.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        today = context.scheduled_execution_time.date()
        requests = []
        for period in m.periods:
            key = partition_key(m.code, period.code)
            if period.deadline - timedelta(days=m.reminder_days) <= today <= period.deadline:
                requests.append(
                    dg.RunRequest(
                        run_key=f"remind:{key}:{today}",
                        partition_key=key,
                        asset_selection=[dg.AssetKey(a) for a in REMIND],
                    )
                )
            if today == period.deadline + timedelta(days=1):
                requests.append(
                    dg.RunRequest(
                        run_key=f"close:{key}",
                        partition_key=key,
                        asset_selection=[dg.AssetKey(a) for a in PARTITION_STAGES],
                    )
                )
        return requests or dg.SkipReason(f"{today:%d.%m.%Y}: сроков сдачи рядом нет")

    return _schedule


SCHEDULES = [calendar_schedule(m) for m in LOCATION_REFERENCE.municipalities.values()]
