from django.apps import AppConfig


class WorkflowsUiConfig(AppConfig):
    """The console face: instances, timelines, history, reports and exports."""

    name = "workflows_ui"
    verbose_name = "Console"
