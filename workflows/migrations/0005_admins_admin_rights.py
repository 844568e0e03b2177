"""The Admins role in Django's admin: what an admin of the dashboard looks after there.

Until now only superusers could use the admin pages, so a member of Admins could neither
unlock a throttled sign-in (axes' access attempts) nor revoke an engine's token there. The
role now holds: ingest tokens (view, change: scopes and revoking, delete), the outbox
(view, change: its "retry dead commands" action), the log and the projections (view only),
and axes' access attempts (view, delete: unlocking) and logs (view). Users and groups stay
with superusers. docs/security.md states the roles.
"""

from django.db import migrations

RIGHTS = {
    ("workflows", "ingesttoken"): ["view", "change", "delete"],
    ("workflows", "outboxcommand"): ["view", "change"],
    ("workflows", "event"): ["view"],
    ("workflows", "workflowinstance"): ["view"],
    ("workflows", "steprun"): ["view"],
    ("workflows", "humantask"): ["view"],
    ("axes", "accessattempt"): ["view", "delete"],
    ("axes", "accessfailurelog"): ["view", "delete"],
    ("axes", "accesslog"): ["view"],
}
NAMES = {
    "ingesttoken": "ingest token",
    "outboxcommand": "outbox command",
    "event": "event",
    "workflowinstance": "workflow instance",
    "steprun": "step run",
    "humantask": "human task",
    "accessattempt": "access attempt",
    "accessfailurelog": "access failure",
    "accesslog": "access log",
}


def _permissions(apps):
    """The permissions, made now if Django's post-migrate step has not made them yet."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for (app_label, model), actions in RIGHTS.items():
        ct, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        for action in actions:
            perm, _ = Permission.objects.get_or_create(
                content_type=ct,
                codename=f"{action}_{model}",
                defaults={"name": f"Can {action} {NAMES[model]}"},
            )
            yield perm


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admins, _ = Group.objects.get_or_create(name="Admins")
    admins.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    admins = Group.objects.filter(name="Admins").first()
    if admins is not None:
        admins.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0004_repair_lone_surrogates"),
        ("axes", "0010_accessattemptexpiration"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
