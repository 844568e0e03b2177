from django.apps import AppConfig


class WorkflowsUiConfig(AppConfig):
    name = "workflows_ui"
    verbose_name = "Workflows"
