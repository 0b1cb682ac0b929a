import os


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarion.server.settings")
    import django

    django.setup()
