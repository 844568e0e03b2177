from django.apps import AppConfig


class PagesConfig(AppConfig):
    """What both faces' pages share: the htmx page-or-partial helper and formatting tags."""

    name = "pages"
    verbose_name = "Page helpers"
