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


@checks.register()
def check_health_and_metrics(app_configs, **kwargs):
    import ipaddress

    errors = []
    for entry in clarion_settings.METRICS_ALLOWED_IPS:
        try:
            ipaddress.ip_network(entry, strict=False)
        except (TypeError, ValueError):
            errors.append(
                checks.Error(
                    f"CLARION['METRICS_ALLOWED_IPS'] entry {entry!r} is not an IP address or network",
                    hint='e.g. "127.0.0.1", "::1" or "10.0.0.0/8"',
                    id="clarion.E003",
                )
            )
    value = clarion_settings.HEALTH_INTERVAL
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        errors.append(
            checks.Error(f"CLARION['HEALTH_INTERVAL'] must be a positive number of seconds, got {value!r}",
                         id="clarion.E004")
        )
    return errors
