"""The models move here from ``inbox`` and ``workflows_ui``, keeping their tables and rows.

Only the migration state moves; the content types are relabelled, so permissions (and the
Admins and Managers groups holding them) and admin history follow the models.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = {
    "inbox": ["event", "ingesttoken", "outboxcommand", "humantask", "foldstate"],
    "workflows_ui": ["workflowinstance", "steprun"],
}


def _relabel(apps, to_label, from_label_of):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for old_label, models_ in MOVED.items():
        for model in models_:
            source, target = from_label_of(old_label), to_label(old_label)
            if ContentType.objects.filter(app_label=target, model=model).exists():
                continue
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def relabel_content_types(apps, schema_editor):
    _relabel(apps, lambda old: "workflows", lambda old: old)


def unrelabel_content_types(apps, schema_editor):
    _relabel(apps, lambda old: old, lambda old: "workflows")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('inbox', '0005_event_actor'),
        ('workflows_ui', '0002_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are (Meta.db_table): only Django's idea of which app
        # owns the models changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WorkflowInstance',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('instance_id', models.UUIDField(unique=True)),
                        ('workflow_name', models.CharField(blank=True, help_text='Blank when unknown.', max_length=200)),
                        ('workflow_version', models.CharField(blank=True, max_length=50)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('waiting', 'Waiting'), ('paused', 'Paused'), ('completed', 'Completed'), ('failed', 'Failed'), ('canceled', 'Canceled')], default='running', max_length=16)),
                        ('engine_status', models.CharField(blank=True, help_text='As the engine said.', max_length=50)),
                        ('current_step', models.CharField(blank=True, max_length=200)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('ended_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_seconds', models.FloatField(blank=True, null=True)),
                        ('first_event_at', models.DateTimeField(blank=True, null=True)),
                        ('last_event_at', models.DateTimeField(blank=True, null=True)),
                        ('event_count', models.PositiveIntegerField(default=0)),
                        ('initial_data', models.JSONField(blank=True, null=True)),
                        ('initiator', models.CharField(blank=True, max_length=200)),
                        ('tenant_id', models.CharField(blank=True, max_length=200)),
                        ('final_step', models.CharField(blank=True, max_length=200)),
                        ('error', models.TextField(blank=True)),
                        ('error_type', models.CharField(blank=True, max_length=200)),
                        ('failed_step', models.CharField(blank=True, max_length=200)),
                        ('stack_trace', models.TextField(blank=True)),
                        ('cancel_reason', models.TextField(blank=True)),
                        ('canceled_by', models.CharField(blank=True, max_length=200)),
                        ('pause_reason', models.TextField(blank=True)),
                        ('paused_by', models.CharField(blank=True, max_length=200)),
                        ('paused_at', models.DateTimeField(blank=True, null=True)),
                        ('resumed_by', models.CharField(blank=True, max_length=200)),
                        ('resumed_at', models.DateTimeField(blank=True, null=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'workflows_ui_workflowinstance',
                        'ordering': ['-started_at', '-id'],
                        'permissions': [('manage_instances', 'Can cancel, pause and resume workflows and reassign any task'), ('view_history', 'Can view all history, reports and exports')],
                    },
                ),
                migrations.CreateModel(
                    name='HumanTask',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('task_id', models.UUIDField(unique=True)),
                        ('step_name', models.CharField(max_length=200)),
                        ('title', models.CharField(blank=True, max_length=500)),
                        ('description', models.TextField(blank=True)),
                        ('assignee', models.CharField(blank=True, help_text='As the engine sent it.', max_length=200)),
                        ('due_at', models.DateTimeField(blank=True, null=True)),
                        ('form_schema', models.JSONField(blank=True, null=True)),
                        ('priority', models.IntegerField(default=0)),
                        ('status', models.CharField(choices=[('open', 'Open'), ('completed', 'Completed'), ('canceled', 'Canceled')], default='open', max_length=16)),
                        ('created_at', models.DateTimeField(blank=True, null=True)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                        ('completed_by', models.CharField(blank=True, max_length=200)),
                        ('closed_at', models.DateTimeField(blank=True, null=True)),
                        ('closed_reason', models.CharField(blank=True, max_length=200)),
                        ('form_data', models.JSONField(blank=True, null=True)),
                        ('comment', models.TextField(blank=True)),
                        ('reassignment_count', models.PositiveIntegerField(default=0)),
                        ('last_reassigned_at', models.DateTimeField(blank=True, null=True)),
                        ('last_reassigned_by', models.CharField(blank=True, max_length=200)),
                        ('last_reassign_reason', models.TextField(blank=True)),
                        ('previous_assignee', models.CharField(blank=True, max_length=200)),
                        ('version', models.PositiveIntegerField(default=0)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'inbox_humantask',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='IngestToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('token_hash', models.CharField(max_length=64, unique=True)),
                        ('prefix', models.CharField(help_text='The first characters, to recognise it.', max_length=12)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('revoked', models.BooleanField(default=False)),
                    ],
                    options={
                        'db_table': 'inbox_ingesttoken',
                    },
                ),
                migrations.CreateModel(
                    name='OutboxCommand',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('kind', models.CharField(help_text='The event type the engine must act on.', max_length=32)),
                        ('instance_id', models.UUIDField(db_index=True)),
                        ('payload', models.JSONField(help_text="The event's wire object.")),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('last_error', models.TextField(blank=True)),
                    ],
                    options={
                        'db_table': 'inbox_outboxcommand',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='StepRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('step_name', models.CharField(max_length=200)),
                        ('attempt', models.PositiveIntegerField(default=1)),
                        ('step_type', models.CharField(blank=True, max_length=50)),
                        ('status', models.CharField(choices=[('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed'), ('skipped', 'Skipped')], max_length=16)),
                        ('engine_status', models.CharField(blank=True, max_length=50)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('ended_at', models.DateTimeField(blank=True, null=True)),
                        ('duration_seconds', models.FloatField(blank=True, null=True)),
                        ('retry_count', models.PositiveIntegerField(default=0)),
                        ('error', models.TextField(blank=True)),
                        ('error_type', models.CharField(blank=True, max_length=200)),
                        ('input_data', models.JSONField(blank=True, null=True)),
                        ('result', models.JSONField(blank=True, null=True)),
                        ('output_data', models.JSONField(blank=True, null=True)),
                        ('skip_reason', models.TextField(blank=True)),
                    ],
                    options={
                        'db_table': 'workflows_ui_steprun',
                        'ordering': ['started_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Event',
                    fields=[
                        ('seq', models.BigAutoField(help_text='Arrival sequence.', primary_key=True, serialize=False)),
                        ('event_id', models.UUIDField(help_text="Idempotency key: the sender's event_id, or one derived from the SHA-256 of the event's canonical JSON.", unique=True)),
                        ('event_id_given', models.BooleanField(default=False)),
                        ('type', models.CharField(max_length=32)),
                        ('instance_id', models.UUIDField(db_index=True)),
                        ('task_id', models.UUIDField(blank=True, db_index=True, null=True)),
                        ('timestamp', models.DateTimeField()),
                        ('payload', models.JSONField()),
                        ('source', models.CharField(help_text='token:NAME, dashboard:USER or cli:…', max_length=200)),
                        ('actor', models.CharField(blank=True, help_text='The person behind the event: the dashboard user, else the one the payload names (user_id, completed_by, reassigned_by, canceled_by, resumed_by).', max_length=200)),
                        ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'inbox_event',
                        'ordering': ['seq'],
                        'indexes': [models.Index(fields=['instance_id', 'timestamp'], name='inbox_event_instanc_8e27c1_idx'), models.Index(fields=['actor', 'type'], name='inbox_event_actor_9fde55_idx')],
                    },
                ),
                migrations.CreateModel(
                    name='FoldState',
                    fields=[
                        ('instance', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='workflows.workflowinstance', to_field='instance_id')),
                        ('state', models.JSONField(help_text='workflows.fold.FoldProgress.carry()')),
                    ],
                    options={
                        'db_table': 'inbox_foldstate',
                    },
                ),
                migrations.AddIndex(
                    model_name='workflowinstance',
                    index=models.Index(fields=['status', 'started_at'], name='workflows_u_status_5bd43e_idx'),
                ),
                migrations.AddIndex(
                    model_name='workflowinstance',
                    index=models.Index(fields=['workflow_name', 'started_at'], name='workflows_u_workflo_f59cef_idx'),
                ),
                migrations.AddField(
                    model_name='humantask',
                    name='assignee_group',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tasks', to='auth.group'),
                ),
                migrations.AddField(
                    model_name='humantask',
                    name='assignee_user',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='assigned_tasks', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='humantask',
                    name='completed_by_user',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='completed_tasks', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AddField(
                    model_name='humantask',
                    name='instance',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='workflows.workflowinstance', to_field='instance_id'),
                ),
                migrations.AddField(
                    model_name='outboxcommand',
                    name='event',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='outbox_command', to='workflows.event'),
                ),
                migrations.AddField(
                    model_name='steprun',
                    name='instance',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='workflows.workflowinstance', to_field='instance_id'),
                ),
                migrations.AddIndex(
                    model_name='humantask',
                    index=models.Index(fields=['assignee_user', 'status', 'due_at'], name='inbox_human_assigne_46d6cf_idx'),
                ),
                migrations.AddIndex(
                    model_name='humantask',
                    index=models.Index(fields=['assignee_group', 'status', 'due_at'], name='inbox_human_assigne_15e005_idx'),
                ),
                migrations.AddIndex(
                    model_name='humantask',
                    index=models.Index(fields=['status', 'created_at'], name='inbox_human_status_042771_idx'),
                ),
                migrations.AddIndex(
                    model_name='humantask',
                    index=models.Index(fields=['completed_by_user', 'completed_at'], name='inbox_human_complet_5c6cc3_idx'),
                ),
                migrations.AddIndex(
                    model_name='outboxcommand',
                    index=models.Index(fields=['delivered_at', 'id'], name='inbox_outbo_deliver_e6d962_idx'),
                ),
                migrations.AddConstraint(
                    model_name='steprun',
                    constraint=models.UniqueConstraint(fields=('instance', 'step_name', 'attempt'), name='unique_step_attempt'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unrelabel_content_types),
    ]
