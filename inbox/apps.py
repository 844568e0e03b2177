from django.apps import AppConfig


class InboxConfig(AppConfig):
    """The assignee face: My tasks, Team queues, Done and the task page."""

    name = "inbox"
    verbose_name = "Task inbox"
