"""Notices are sent by the mail queue (django-tasks): a notice claimed for sending says since when, and the
notices an earlier release left queued are put in the queue."""

from django.db import migrations, models


def enqueue_waiting(apps, schema_editor):
    from cabinet.notices import send

    for notice_id in (
        apps.get_model("cabinet", "Notice").objects.filter(state="queued").values_list("pk", flat=True)
    ):
        send.enqueue(notice_id)


class Migration(migrations.Migration):
    dependencies = [
        ("cabinet", "0005_upload_reason"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.AddField(model_name="notice", name="sending_since", field=models.DateTimeField(null=True)),
        migrations.RunPython(enqueue_waiting, migrations.RunPython.noop),
    ]
