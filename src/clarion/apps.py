from django.apps import AppConfig


class ClarionConfig(AppConfig):
    name = "clarion"
    verbose_name = "Clarion notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from clarion import checks  # noqa: F401  (registers system checks)
