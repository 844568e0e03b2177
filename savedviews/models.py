"""A person's saved filters of one list page."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

NAME_MAX_LENGTH = 80


class SavedView(models.Model):
    class Page(models.TextChoices):
        MY_TASKS = "my_tasks", "My tasks"
        TEAM_QUEUES = "team_queues", "Team queues"
        INSTANCES = "instances", "Instances"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    page = models.CharField(max_length=20, choices=Page.choices)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    # The page's filters as a normalised query string (savedviews.services.normalise): only
    # the page's own filter parameters, as its filter form cleaned them, never a page/cursor.
    query = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint("owner", Lower("name"), name="savedview_owner_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name
