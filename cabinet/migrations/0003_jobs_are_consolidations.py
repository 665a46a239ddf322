"""Approvals are no longer jobs of their own: a decision is handed to the pipeline and applied by the partition's
next consolidation. Jobs of the old kinds still waiting become that consolidation."""

from django.db import migrations, models


def waiting_approvals_consolidate(apps, schema_editor):
    apps.get_model("cabinet", "Job").objects.filter(kind__in=["approve", "unapprove"]).update(
        kind="consolidate"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cabinet", "0002_notice_schoolcontact"),
    ]

    operations = [
        migrations.RunPython(waiting_approvals_consolidate, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="job",
            name="kind",
            field=models.CharField(
                choices=[("consolidate", "свод муниципалитета"), ("regional", "свод региона")], max_length=16
            ),
        ),
    ]
