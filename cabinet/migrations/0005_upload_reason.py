"""An upload keeps its first error's message, so the board reads one short field instead of every version's
problems."""

from django.db import migrations, models


def reasons(apps, schema_editor):
    from cabinet.models import first_error

    Upload = apps.get_model("cabinet", "Upload")
    for upload in Upload.objects.iterator():
        Upload.objects.filter(pk=upload.pk).update(reason=first_error(upload.issues))


class Migration(migrations.Migration):
    dependencies = [
        ("cabinet", "0004_versions_by_any_channel"),
    ]

    operations = [
        migrations.AddField(model_name="upload", name="reason", field=models.TextField(blank=True)),
        migrations.RunPython(reasons, migrations.RunPython.noop),
    ]
