from django.apps import AppConfig


class SavedViewsConfig(AppConfig):
    """Saved views: a person's named filters of My tasks, Team queues or Instances, listed
    in the navigation with live counts. Above both faces: it reads their filter forms and
    list selectors, so a view's count is the page's own list."""

    name = "savedviews"
    verbose_name = "Saved views"
