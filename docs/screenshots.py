"""Screenshots of the main pages from demo data, for the README.

    .venv/bin/python docs/screenshots.py [--port 8792]

Builds a throw-away SQLite database (migrate, seed_demo, simulate --workflows 40 --seed 7),
serves it with uvicorn on a free port, signs in as demo users in Chromium (Playwright) and
writes docs/screenshots/*.png; then stops the server and removes the database.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from docs/

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.server import free_port, stop, uvicorn_command, wait_until_up  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

OUT = ROOT / "docs" / "screenshots"
PYTHON = sys.executable
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}


def manage(env: dict[str, str], *args: str) -> None:
    print("manage.py", *args, flush=True)
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def pick_tasks(env: dict[str, str]) -> dict[str, Any]:
    """Task ids worth showing, read from the demo database in a child process."""
    code = """
import django, json
django.setup()
from django.contrib.auth.models import User
from workflows.models import HumanTask
alice = User.objects.get(username="alice")
mine = HumanTask.objects.open().filter(assignee_user=alice)
with_form = list(mine.exclude(form_schema=None).order_by("-priority", "due_at"))
# The richest form makes the most telling picture.
form = max(with_form, key=lambda t: len(t.form_schema.get("properties", {})), default=None)
closed = HumanTask.objects.filter(completed_by_user=alice).exclude(form_data=None).first()
from workflows.models import WorkflowInstance
# The console's instance page: the instance with the longest history tells the most.
busy = WorkflowInstance.objects.order_by("-event_count", "instance_id").first()
keyed = next((i for i in WorkflowInstance.objects.order_by("instance_id") if i.business_key), None)
print(json.dumps({"form": str(form.task_id) if form else "",
                  "schema": form.form_schema if form else {},
                  "closed": str(closed.task_id) if closed else "",
                  "instance": str(busy.instance_id) if busy else "",
                  "business_key": keyed.business_key if keyed else ""}))
"""
    out = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    import json

    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def a_mistake(schema: dict[str, Any]) -> tuple[str, str]:
    """(field label, wrong value): a number over its maximum, else a bad e-mail address."""
    props = schema.get("properties", {})
    for name, spec in props.items():
        if spec.get("type") in ("number", "integer") and "maximum" in spec:
            return spec.get("title", name), str(spec["maximum"] + 1000)
    for name, spec in props.items():
        if spec.get("format") == "email":
            return spec.get("title", name), "not-an-address"
    raise RuntimeError("no field to make a mistake in")


def shoot(base: str, tasks: dict[str, Any]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from demo.users import demo_password

    saved: list[Path] = []

    def save(page: Any, name: str, *, full_page: bool = True) -> None:
        path = OUT / f"{name}.png"
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(path), full_page=full_page)
        saved.append(path)
        print("saved", path.relative_to(ROOT), flush=True)

    def session(browser: Any, username: str, **options: Any) -> Any:
        context = browser.new_context(base_url=base, viewport=DESKTOP, **options)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(demo_password(username))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")  # each lands where their work is (My tasks, the console)
        return page

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        login = browser.new_context(base_url=base, viewport=DESKTOP).new_page()
        login.goto("/accounts/login/")
        save(login, "sign-in", full_page=False)

        alice = session(browser, "alice")
        save(alice, "my-tasks")
        if tasks["form"]:
            alice.goto(f"/tasks/{tasks['form']}/")
            save(alice, "task-form")
            label, wrong = a_mistake(tasks["schema"])
            alice.get_by_label(label).first.fill(wrong)
            alice.get_by_role("button", name="Complete task").click()
            alice.locator(".errorlist").first.wait_for()
            save(alice, "task-form-error")
        if tasks["closed"]:
            alice.goto(f"/tasks/{tasks['closed']}/")
            save(alice, "task-completed")
        alice.goto("/done/")
        save(alice, "done")

        bob = session(browser, "bob")
        bob.goto("/queues/")
        save(bob, "team-queues")

        phone = session(browser, "alice", is_mobile=True, has_touch=True)
        phone.set_viewport_size(PHONE)
        phone.goto("/")
        save(phone, "my-tasks-phone")
        phone.get_by_text("Filters", exact=True).click()  # they fold on a phone
        phone.locator("#id_q").wait_for()
        save(phone, "my-tasks-phone-filters", full_page=False)

        alice.goto("/settings/")
        save(alice, "settings")

        # The console: an admin's pages, then a manager's.
        admin = session(browser, "admin")
        admin.goto("/workflows/")
        save(admin, "console-instances")
        if tasks["business_key"]:
            admin.goto(f"/workflows/?q={tasks['business_key']}")
            save(admin, "console-search")
        if tasks["instance"]:
            admin.goto(f"/workflows/{tasks['instance']}/")
            save(admin, "console-instance")
        admin.goto("/workflows/unrouted/")
        save(admin, "console-unrouted")
        admin.goto("/workflows/outbox/")
        save(admin, "console-outbox")
        erin = session(browser, "erin")
        erin.goto("/workflows/history/")
        save(erin, "console-history")
        erin.goto("/workflows/history/audit/")
        save(erin, "console-audit")
        erin.goto("/workflows/reports/")
        save(erin, "console-reports")

        dark = session(browser, "alice", color_scheme="dark")
        save(dark, "my-tasks-dark")
        if tasks["form"]:
            dark.goto(f"/tasks/{tasks['form']}/")
            save(dark, "task-form-dark")
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8792)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium is needed at {CHROMIUM}")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inbox-screens-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'demo.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "true",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")})
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "seed_demo")
        manage(env, "simulate", "--workflows", "40", "--seed", "7")
        tasks = pick_tasks(env)
        port = free_port(args.port)
        server = subprocess.Popen(
            uvicorn_command(port, "--log-level", "warning"), cwd=ROOT, env=env
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/accounts/login/", server)
            import django

            django.setup()  # for demo.users' passwords; the pages come from the server
            saved = shoot(f"http://127.0.0.1:{port}", tasks)
        finally:
            stop(server)
    print(f"{len(saved)} screenshots in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
