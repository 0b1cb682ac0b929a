from django.apps import AppConfig


class ClarionConfig(AppConfig):
    name = "clarion"
    verbose_name = "Clarion notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from clarion import checks  # noqa: F401  (registers system checks)
        from clarion.auth import signals

        signals.connect()  # a new password, deactivation or deletion ends the user's sessions
        # The logs, explicitly: every serving process's relay sweeps them, and `clarion doctor`
        # knows them. Then the sending side the logs push through.
        from clarion.collaboration.log import CHAT_LOG
        from clarion.notifications.log import NOTIFICATIONS_LOG
        from clarion.projects.log import PROJECT_LOG
        from clarion.realtime import publish
        from clarion.streams import log

        for sequenced_log in (NOTIFICATIONS_LOG, PROJECT_LOG, CHAT_LOG):
            log.register(sequenced_log)
        publish.install()
        # Snoozed notifications coming back live, to the sockets of each serving process.
        from clarion.notifications import timers as notification_timers
        from clarion.realtime import timers

        timers.register(notification_timers.deliver_due)
