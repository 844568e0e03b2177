from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo tooling: demo people (``seed_demo``) and simulated workflows (``simulate``)."""

    name = "demo"
    verbose_name = "Demo data"
