"""Every HTML page of the site, for tests that visit them all (headers, CSP in a browser)."""

from __future__ import annotations

from typing import Any


def every_page(*, task_id: Any, instance_id: Any, person: str = "alice") -> list[str]:
    """The paths of every page, ``task_id``'s and ``instance_id``'s for the detail pages."""
    return [
        "/",
        "/queues/",
        "/done/",
        f"/tasks/{task_id}/",
        "/workflows/",
        f"/workflows/{instance_id}/",
        "/workflows/unrouted/",
        "/workflows/history/",
        "/workflows/history/audit/",
        "/workflows/reports/",
        "/workflows/outbox/",
        f"/workflows/history/people/{person}/",
        "/admin/",
    ]
