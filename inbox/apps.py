from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Task inbox"

    def ready(self) -> None:
        from inbox import signals

        signals.connect()
