"""The models of this app now live in ``workflows`` (same tables): drop them from its state."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0005_event_actor'),
        ('workflows', '0001_initial'),
    ]

    operations = [
        # The tables stay as they are (Meta.db_table): only Django's idea of which app
        # owns the models changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='outboxcommand',
                    name='event',
                ),
                migrations.RemoveField(
                    model_name='foldstate',
                    name='instance',
                ),
                migrations.RemoveField(
                    model_name='humantask',
                    name='assignee_group',
                ),
                migrations.RemoveField(
                    model_name='humantask',
                    name='assignee_user',
                ),
                migrations.RemoveField(
                    model_name='humantask',
                    name='completed_by_user',
                ),
                migrations.RemoveField(
                    model_name='humantask',
                    name='instance',
                ),
                migrations.DeleteModel(
                    name='IngestToken',
                ),
                migrations.DeleteModel(
                    name='Event',
                ),
                migrations.DeleteModel(
                    name='OutboxCommand',
                ),
                migrations.DeleteModel(
                    name='FoldState',
                ),
                migrations.DeleteModel(
                    name='HumanTask',
                ),
            ],
            database_operations=[],
        ),
    ]
