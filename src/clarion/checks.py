"""System checks for settings that would make Clarion unsafe or broken."""

import re

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


_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")
_LIMITS = ("MESSAGE_RATE", "MESSAGE_BURST", "RATE_LIMIT_COOLDOWN", "MAX_CONNECTIONS_PER_USER",
           "MAX_CONNECTIONS_PER_IP", "MAX_ROOMS_PER_USER", "ROOM_JOIN_RATE", "ROOM_JOIN_BURST",
           "PRESENCE_LEAVE_GRACE")


@checks.register(checks.Tags.security)
def check_abuse_limits(app_configs, **kwargs):
    """The abuse limits and throttles of docs/security.md: a typo must fail at start-up, not
    turn a limit off or raise on the first connect."""
    import ipaddress

    errors = []
    for name in ("AUTH_THROTTLE_RATE", "TICKET_THROTTLE_RATE", "ROOM_CREATE_THROTTLE_RATE"):
        value = getattr(clarion_settings, name)
        if value is not None and not (isinstance(value, str) and _RATE.match(value)):
            errors.append(checks.Error(f"CLARION[{name!r}] must be a rate like \"30/minute\" or None, got {value!r}",
                                       id="clarion.E005"))
    for name in _LIMITS:
        value = getattr(clarion_settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            errors.append(checks.Error(f"CLARION[{name!r}] must be a number >= 0 (0 turns it off), got {value!r}",
                                       id="clarion.E006"))
    if clarion_settings.MESSAGE_RATE and not clarion_settings.MESSAGE_BURST:
        errors.append(checks.Error("CLARION['MESSAGE_BURST'] must be at least 1 while MESSAGE_RATE is on",
                                   id="clarion.E006"))
    for entry in clarion_settings.CONNECTION_LIMIT_EXEMPT_IPS:
        try:
            ipaddress.ip_network(entry, strict=False)
        except (TypeError, ValueError):
            errors.append(checks.Error(
                f"CLARION['CONNECTION_LIMIT_EXEMPT_IPS'] entry {entry!r} is not an IP address or network",
                id="clarion.E007"))
    return errors


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}
_RESERVED_SUFFIXES = (".localhost", ".test", ".example", ".invalid")  # RFC 2606: never public


def _is_local(host: str) -> bool:
    return host in _LOCAL_HOSTS or host.endswith(_RESERVED_SUFFIXES)


@checks.register(checks.Tags.security)
def check_tls_deployment(app_configs, **kwargs):
    """A server that answers a public host name with DEBUG off is a deployment: its cookies must
    be Secure and browsers told to keep to https (issue 10). Local hosts (the default) stay quiet."""
    public = [host for host in settings.ALLOWED_HOSTS if not _is_local(host)]
    if settings.DEBUG or not public:
        return []
    missing = [name for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE") if not getattr(settings, name, False)]
    if not getattr(settings, "SECURE_HSTS_SECONDS", 0):
        missing.append("SECURE_HSTS_SECONDS")
    if not missing:
        return []
    return [checks.Warning(
        f"DEBUG is off and ALLOWED_HOSTS names {', '.join(public)}, but {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not set: cookies or whole sessions may travel over plain http",
        hint="Behind TLS, set CLARION_HTTPS=1 and CLARION_HSTS_SECONDS (standalone server), plus "
             "CLARION_PROXY_SSL_HEADER and CLARION_CSRF_TRUSTED_ORIGINS behind a proxy; see docs/configuration.md",
        id="clarion.W001",
    )]
