"""The task row keeps its workflow's name and its cycle time (the Reports page's groups and
values, without a join to the instances), indexed for the report; existing rows are filled
in here, as the fold (``workflows.fold.report_fields``) writes them from now on."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import migrations, models

BATCH = 2000


def cycle_seconds(status: str, created: datetime | None, completed: datetime | None) -> Any:
    """As ``workflows.fold.cycle_seconds`` (tests/core/test_report_fields_migration.py
    checks that the two agree)."""
    if status != "completed" or created is None or completed is None:
        return None
    return float((completed - created).total_seconds())


def backfill(apps: Any, schema_editor: Any) -> None:
    """Every task's workflow name (its instance's) and cycle seconds, BATCH tasks at a
    time in primary-key order: one read with the instance's name, one ``executemany``."""
    task = apps.get_model("workflows", "HumanTask")
    db = schema_editor.connection.alias
    table = schema_editor.connection.ops.quote_name(task._meta.db_table)
    sql = f"UPDATE {table} SET workflow_name = %s, cycle_seconds = %s WHERE id = %s"
    last = 0
    while True:
        rows = list(
            task.objects.using(db)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "instance__workflow_name", "status", "created_at", "completed_at")[
                :BATCH
            ]
        )
        if not rows:
            return
        last = rows[-1][0]
        with schema_editor.connection.cursor() as cur:
            cur.executemany(
                sql,
                [
                    (name, cycle_seconds(status, created, completed), pk)
                    for pk, name, status, created, completed in rows
                ],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("workflows", "0009_report_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="humantask",
            name="cycle_seconds",
            field=models.FloatField(
                blank=True, help_text="Completed tasks: completed_at - created_at.", null=True
            ),
        ),
        migrations.AddField(
            model_name="humantask",
            name="workflow_name",
            field=models.CharField(
                blank=True, default="", help_text="Its instance's workflow name.", max_length=200
            ),
        ),
        # Filled in before the index exists: one index build rather than 400,000 updates.
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name="humantask",
            index=models.Index(
                fields=[
                    "workflow_name",
                    "step_name",
                    "cycle_seconds",
                    "status",
                    "reassignment_count",
                    "due_at",
                    "completed_at",
                ],
                name="task_report_idx",
            ),
        ),
    ]
