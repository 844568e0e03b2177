"""The models of this app now live in ``workflows`` (same tables): drop them from its state."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0006_models_moved_to_workflows'),
        ('workflows', '0001_initial'),
        ('workflows_ui', '0002_roles'),
    ]

    operations = [
        # The tables stay as they are (Meta.db_table): only Django's idea of which app
        # owns the models changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='StepRun',
                ),
                migrations.DeleteModel(
                    name='WorkflowInstance',
                ),
            ],
            database_operations=[],
        ),
    ]
