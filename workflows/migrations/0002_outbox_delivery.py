"""Outbox delivery (issue 9): a stable command id, the action, who and which task, and a
delivery status with its retry schedule.

``command_id`` is added nullable, filled row by row (a callable default would give every
existing row the same UUID), then made unique and required. Existing rows get their action
from the event type (a claim or release was recorded as a reassignment), their task and
actor from the event, and ``delivered`` if they carry a delivery time, else ``pending``.
The indexes of the old pending query (``delivered_at``) and on ``instance_id`` alone go.
"""

import uuid

from django.db import migrations, models

ACTION_OF_KIND = {
    "HumanTaskCompleted": "complete",
    "HumanTaskReassigned": "reassign",
    "WorkflowCanceled": "cancel",
    "WorkflowPaused": "pause",
    "WorkflowResumed": "resume",
}


def fill_existing(apps, schema_editor):
    OutboxCommand = apps.get_model("workflows", "OutboxCommand")
    for command in OutboxCommand.objects.select_related("event").iterator():
        command.command_id = uuid.uuid4()
        command.action = ACTION_OF_KIND.get(command.kind, "")
        command.task_id = command.event.task_id
        command.actor = (command.event.actor or "")[:150]
        command.status = "delivered" if command.delivered_at else "pending"
        command.save(update_fields=["command_id", "action", "task_id", "actor", "status"])


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
        # After the models moved here (and unapplied before they move back).
        ("inbox", "0006_models_moved_to_workflows"),
        ("workflows_ui", "0003_models_moved_to_workflows"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxcommand",
            name="command_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="outboxcommand",
            name="action",
            field=models.CharField(
                blank=True,
                choices=[
                    ("complete", "Complete"),
                    ("reassign", "Reassign"),
                    ("claim", "Claim"),
                    ("release", "Release"),
                    ("cancel", "Cancel"),
                    ("pause", "Pause"),
                    ("resume", "Resume"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="outboxcommand",
            name="actor",
            field=models.CharField(blank=True, help_text="The dashboard username.", max_length=150),
        ),
        migrations.AddField(
            model_name="outboxcommand",
            name="task_id",
            field=models.UUIDField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="outboxcommand",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("delivered", "Delivered"),
                    ("failed", "Failed"),
                    ("dead", "Dead"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="outboxcommand",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="outboxcommand",
            name="last_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="outboxcommand",
            name="command_id",
            field=models.UUIDField(
                default=uuid.uuid4,
                help_text="Receivers drop redeliveries by this id.",
                unique=True,
            ),
        ),
        migrations.AddIndex(
            model_name="outboxcommand",
            index=models.Index(fields=["status", "next_attempt_at"], name="outbox_status_next_idx"),
        ),
        migrations.AddIndex(
            model_name="outboxcommand",
            index=models.Index(fields=["instance_id", "id"], name="outbox_instance_order_idx"),
        ),
        # Made redundant: the status index finds what is due, the one above an instance's.
        migrations.RemoveIndex(model_name="outboxcommand", name="inbox_outbo_deliver_e6d962_idx"),
        migrations.AlterField(
            model_name="outboxcommand", name="instance_id", field=models.UUIDField()
        ),
    ]
