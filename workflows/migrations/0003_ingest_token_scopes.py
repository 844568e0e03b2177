"""Ingest token scopes (hardening, item 11): ``events:write`` and ``read``.

Tokens that exist when this runs keep both scopes, so current deployments go on working;
new tokens get ``events:write`` only (the model's default) unless given more. The table
keeps its name, ``inbox_ingesttoken``.
"""

from django.db import migrations, models

import workflows.models


def both_scopes():
    return ["events:write", "read"]


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0002_outbox_delivery"),
    ]

    operations = [
        # Existing rows get the default given here: both scopes.
        migrations.AddField(
            model_name="ingesttoken",
            name="scopes",
            field=models.JSONField(default=both_scopes),
        ),
        # From now on the model's default: events:write only.
        migrations.AlterField(
            model_name="ingesttoken",
            name="scopes",
            field=models.JSONField(
                default=workflows.models.default_token_scopes,
                help_text="events:write (send events) and/or read (read every task and instance).",
                validators=[workflows.models.validate_token_scopes],
            ),
        ),
        migrations.AlterField(
            model_name="ingesttoken",
            name="last_used_at",
            field=models.DateTimeField(
                blank=True, help_text="Updated at most once a minute.", null=True
            ),
        ),
    ]
