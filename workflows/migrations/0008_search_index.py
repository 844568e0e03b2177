"""The search index: a document per instance and per task (``workflows.search``).

Creates ``InstanceSearch`` and ``TaskSearch``, then the text index over their ``body``:

- SQLite: an FTS5 table with the trigram tokenizer over each (external content, rowid =
  the row's id), kept in step by triggers on the document table (insert, delete, update; an
  upsert's update fires the update trigger). Needs SQLite 3.34 or later, built with FTS5 (as
  Python's and Debian's are); refused with a clear message otherwise.
- PostgreSQL: the pg_trgm extension (trusted since PostgreSQL 13: a database owner may
  create it) and a GIN ``gin_trgm_ops`` index on each ``body``.

Then it backfills the documents of every instance and task already projected. A later
migration that alters these two tables on SQLite (Django rebuilds a table to alter it) must
recreate the FTS tables and triggers, as ``fts_sqlite`` does here.
"""

from django.db import migrations, models

from workflows.search import instance_text, task_body

TABLES = ("workflows_instancesearch", "workflows_tasksearch")


def fts_sqlite(table):
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE \"{fts}\" USING fts5(body, content='{table}', "
        "content_rowid='id', tokenize='trigram')",
        f'CREATE TRIGGER "{table}_ai" AFTER INSERT ON "{table}" BEGIN '
        f'INSERT INTO "{fts}"(rowid, body) VALUES (new.id, new.body); END',
        f'CREATE TRIGGER "{table}_ad" AFTER DELETE ON "{table}" BEGIN '
        f"INSERT INTO \"{fts}\"(\"{fts}\", rowid, body) VALUES ('delete', old.id, old.body); END",
        f'CREATE TRIGGER "{table}_au" AFTER UPDATE ON "{table}" BEGIN '
        f"INSERT INTO \"{fts}\"(\"{fts}\", rowid, body) VALUES ('delete', old.id, old.body); "
        f'INSERT INTO "{fts}"(rowid, body) VALUES (new.id, new.body); END',
    ]


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            try:
                cursor.execute("CREATE VIRTUAL TABLE temp.fts_probe USING fts5(x, tokenize='trigram')")
                cursor.execute("DROP TABLE temp.fts_probe")
            except Exception as exc:
                raise RuntimeError(
                    "The search index needs SQLite 3.34 or later with FTS5 (its trigram "
                    f"tokenizer); this SQLite is {connection.Database.sqlite_version}: {exc}"
                ) from exc
            for table in TABLES:
                for sql in fts_sqlite(table):
                    cursor.execute(sql)
        elif connection.vendor == "postgresql":
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for table in TABLES:
                cursor.execute(
                    f'CREATE INDEX "{table}_body_trgm" ON "{table}" USING gin (body gin_trgm_ops)'
                )


def drop_index(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "sqlite":
                for suffix in ("ai", "ad", "au"):
                    cursor.execute(f'DROP TRIGGER IF EXISTS "{table}_{suffix}"')
                cursor.execute(f'DROP TABLE IF EXISTS "{table}_fts"')
            elif connection.vendor == "postgresql":
                cursor.execute(f'DROP INDEX IF EXISTS "{table}_body_trgm"')


def backfill(apps, schema_editor):
    alias = schema_editor.connection.alias
    Instance = apps.get_model("workflows", "WorkflowInstance")
    Task = apps.get_model("workflows", "HumanTask")
    InstanceSearch = apps.get_model("workflows", "InstanceSearch")
    TaskSearch = apps.get_model("workflows", "TaskSearch")
    last = 0
    while True:
        rows = list(
            Instance.objects.using(alias)
            .filter(id__gt=last)
            .order_by("id")
            .values_list("id", "instance_id", "workflow_name", "initial_data")[:2000]
        )
        if not rows:
            return
        last = rows[-1][0]
        texts = {iid: instance_text(name, data) for _, iid, name, data in rows}
        InstanceSearch.objects.using(alias).bulk_create(
            InstanceSearch(instance_id=iid, body=text) for iid, text in texts.items()
        )
        TaskSearch.objects.using(alias).bulk_create(
            TaskSearch(
                task_id=tid,
                instance_id=iid,
                body=task_body(step, title, description, texts[iid]),
            )
            for tid, iid, step, title, description in Task.objects.using(alias)
            .filter(instance_id__in=list(texts))
            .values_list("task_id", "instance_id", "step_name", "title", "description")
        )


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0007_notification_emails'),
    ]

    operations = [
        migrations.CreateModel(
            name='InstanceSearch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('instance_id', models.UUIDField(unique=True)),
                ('body', models.TextField()),
            ],
            options={
                'db_table': 'workflows_instancesearch',
            },
        ),
        migrations.CreateModel(
            name='TaskSearch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('task_id', models.UUIDField(unique=True)),
                ('instance_id', models.UUIDField()),
                ('body', models.TextField()),
            ],
            options={
                'db_table': 'workflows_tasksearch',
            },
        ),
        migrations.RunPython(create_index, drop_index),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
