"""System checks for settings that would make Clarion unsafe or broken."""

from django.conf import settings
from django.core import checks

from clarion.conf import clarion_settings


@checks.register(checks.Tags.security, deploy=False)
def check_allowed_origins(app_configs, **kwargs):
    errors = []
    origins = clarion_settings.ALLOWED_ORIGINS
    if "*" in origins and not settings.DEBUG:
        errors.append(
            checks.Error(
                'CLARION["ALLOWED_ORIGINS"] contains "*" while DEBUG is off',
                hint="List the exact origins of your front-end, e.g. https://app.example.com",
                id="clarion.E001",
            )
        )
    for origin in origins:
        if origin != "*" and (origin.endswith("/") or "://" not in origin):
            errors.append(
                checks.Error(
                    f"CLARION['ALLOWED_ORIGINS'] entry {origin!r} is not of the form scheme://host[:port]",
                    id="clarion.E002",
                )
            )
    return errors
