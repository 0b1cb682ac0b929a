from django.apps import AppConfig


class ClarionConfig(AppConfig):
    name = "clarion"
    verbose_name = "Clarion notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from clarion import checks  # noqa: F401  (registers system checks)
        from clarion.auth import signals

        signals.connect()  # a new password, deactivation or deletion ends the user's sessions
        # Register the project and chat logs, so that every serving process's relay also
        # publishes their rows left unsequenced by a crash.
        from clarion.collaboration import services as _chat  # noqa: F401
        from clarion.projects import services as _projects  # noqa: F401
