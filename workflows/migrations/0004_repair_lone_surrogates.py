"""Repair events stored before ingest refused text that is not valid Unicode.

Until then SQLite accepted a lone surrogate (``"\\ud800"``) inside an event's JSON fields,
and every page, partial and CSV export that showed it failed to encode it (a 500 for good).
PostgreSQL refused such events, so only SQLite databases can hold any. Each lone surrogate
(in keys and values) becomes U+FFFD, the Unicode replacement character, and the instances
concerned are folded again so their rows carry the repaired text. A database without such
events is only scanned.
"""

import json
import uuid

from django.db import migrations

REPLACEMENT = "\ufffd"


def _repaired(value):
    """``value`` with every lone surrogate replaced; iterative, so any depth is safe."""
    root = [value]
    stack = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        node = parent[key]
        if isinstance(node, str):
            if _bad(node):
                parent[key] = _fixed(node)
        elif isinstance(node, list):
            stack.extend((node, i) for i in range(len(node)))
        elif isinstance(node, dict):
            items = list(node.items())
            node.clear()
            for k, v in items:
                node[_fixed(k) if _bad(k) else k] = v
            stack.extend((node, k) for k in node)
    return root[0]


def _bad(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _fixed(text):
    return "".join(REPLACEMENT if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def repair(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL never stored them
    # JSONField text is stored ASCII-escaped, so a surrogate is a "\ud8xx".."\udfxx" escape;
    # LIKE is case-insensitive for ASCII in SQLite: one scan finds the candidates.
    # The log is append-only for the application; this repair is the one rewrite, in SQL.
    touched = set()
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, instance_id, payload FROM inbox_event WHERE payload LIKE '%\\ud%'"
        )
        for seq, instance_id, text in cursor.fetchall():
            payload = json.loads(text)
            before = json.dumps(payload)
            fixed = json.dumps(_repaired(payload))
            if fixed != before:
                cursor.execute("UPDATE inbox_event SET payload = %s WHERE seq = %s", [fixed, seq])
                touched.add(uuid.UUID(instance_id))
    if touched:
        # The projections are a fold of the log: fold the repaired instances again. This
        # uses today's fold on purpose; it runs only where such events exist.
        from workflows.store import refold

        refold(sorted(touched))


class Migration(migrations.Migration):
    dependencies = [("workflows", "0003_ingest_token_scopes")]
    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
