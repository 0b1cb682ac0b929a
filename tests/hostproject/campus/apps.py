from django.apps import AppConfig


class CampusConfig(AppConfig):
    name = "campus"
    default_auto_field = "django.db.models.BigAutoField"
