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
           "PRESENCE_LEAVE_GRACE", "SIGNIN_LOCKOUT_FAILURES", "SIGNIN_LOCKOUT_WINDOW",
           "WS_PING_INTERVAL", "WS_PING_TIMEOUT")


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


@checks.register()
def check_roles(app_configs, **kwargs):
    """Role names become group names and are matched against what ROLE_RESOLVER returns: a name
    that cannot be a group, or an admin role that is no role, fails here rather than on the
    first notification (a stored row with an unusable role would block its stream)."""
    from clarion.realtime.groups import is_valid_role_name

    errors = []
    roles = clarion_settings.ROLES
    if isinstance(roles, str) or not isinstance(roles, (list, tuple)):
        return [checks.Error(f"CLARION['ROLES'] must be a list of role names, got {roles!r}",
                             hint='e.g. ["member", "editor", "manager"]', id="clarion.E008")]
    for role in roles:
        if not isinstance(role, str) or not is_valid_role_name(role):
            errors.append(checks.Error(
                f"CLARION['ROLES'] entry {role!r} is not a valid role name",
                hint="Role names are 1-64 letters, digits, '-' or '_' (they name socket groups).",
                id="clarion.E008"))
    duplicates = sorted({role for role in roles if isinstance(role, str) and list(roles).count(role) > 1})
    if duplicates:
        errors.append(checks.Error(f"CLARION['ROLES'] lists {', '.join(map(repr, duplicates))} more than once",
                                   hint="List each role once.", id="clarion.E008"))
    admin_roles = clarion_settings.ADMIN_ROLES
    if isinstance(admin_roles, str) or not isinstance(admin_roles, (list, tuple)):
        errors.append(checks.Error(f"CLARION['ADMIN_ROLES'] must be a list of role names, got {admin_roles!r}",
                                   hint='e.g. ["manager"]', id="clarion.E009"))
    else:
        outside = [role for role in admin_roles if role not in roles]
        if outside:
            errors.append(checks.Error(
                f"CLARION['ADMIN_ROLES'] names {', '.join(map(repr, outside))}, which "
                f"{'is' if len(outside) == 1 else 'are'} not in CLARION['ROLES']",
                hint="Add them to CLARION['ROLES'], or remove them from ADMIN_ROLES: a role outside ROLES "
                     "is never resolved, so nobody would hold it.",
                id="clarion.E009"))
    return errors


# Settings whose value is the dotted path of something Clarion imports, and what it must be.
_IMPORTED = {"ROLE_RESOLVER": "a callable(user) -> role name or None", "BROKER": "a broker class",
             "ROLE_MEMBERS": "a callable(role) -> the users holding it (a QuerySet or a list)"}


@checks.register()
def check_import_paths(app_configs, **kwargs):
    """A dotted path that does not import fails at start-up, not at the first connect or send."""
    from django.utils.module_loading import import_string

    errors = []
    user = getattr(settings, "CLARION", {}) or {}
    for name, expected in _IMPORTED.items():
        value = user.get(name)
        if not isinstance(value, str):
            continue  # the default, or an object given directly
        try:
            target = import_string(value)
        except ImportError as exc:
            errors.append(checks.Error(f"CLARION[{name!r}] = {value!r} cannot be imported: {exc}",
                                       hint=f"Give the dotted path of {expected}, importable from the server's "
                                            f"Python path.", id="clarion.E010"))
            continue
        if not callable(target):
            errors.append(checks.Error(f"CLARION[{name!r}] = {value!r} is not callable",
                                       hint=f"Give the dotted path of {expected}.", id="clarion.E010"))
    return errors


@checks.register()
def check_sockets_are_served(app_configs, **kwargs):
    """Sockets are served only by an ASGI application that routes /ws/ to Clarion: with none,
    every socket gets a 404 and the log says only "Not Found: /ws/notifications/"."""
    hint = ("Set ASGI_APPLICATION to an application that mounts clarion.realtime.routing."
            "websocket_application() under \"websocket\", and serve it with uvicorn (or with "
            "manage.py runserver once daphne is listed first in INSTALLED_APPS): docs/integration.md.")
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return [checks.Warning("ASGI_APPLICATION is not set: nothing serves Clarion's sockets", hint=hint,
                               id="clarion.W002")]
    if path.startswith("clarion."):
        return []  # the standalone server's own application
    from django.utils.module_loading import import_string

    try:
        application = import_string(path)
    except ImportError as exc:
        return [checks.Warning(f"ASGI_APPLICATION = {path!r} cannot be imported: {exc}", hint=hint,
                               id="clarion.W002")]
    routed = _routes_notifications(application)
    if routed is False:
        return [checks.Warning(f"ASGI_APPLICATION = {path!r} does not route /ws/notifications/ to Clarion",
                               hint=hint, id="clarion.W002")]
    return []


_SOCKET_PATH = "ws/notifications/"
_WRAPPED = ("application", "app", "inner")


def _routes_notifications(application, depth: int = 0, path: str = _SOCKET_PATH):
    """True when the application routes the notification socket to Clarion's consumer, False
    when it certainly does not, None when it cannot tell (a wrapper it does not know)."""
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.core.handlers.asgi import ASGIHandler

    from clarion.realtime.consumers.notifications import NotificationsConsumer

    if depth > 20:
        return None
    consumer = getattr(application, "consumer_class", None)
    if consumer is not None:
        return issubclass(consumer, NotificationsConsumer)
    if isinstance(application, ASGIHandler):
        return False  # Django's own handler: HTTP only, a socket gets nothing
    if isinstance(application, ProtocolTypeRouter):
        websocket = application.application_mapping.get("websocket")
        return False if websocket is None else _routes_notifications(websocket, depth + 1, path)
    if isinstance(application, URLRouter):
        for route in application.routes:
            match = route.pattern.match(path)
            if match:
                return _routes_notifications(route.callback, depth + 1, match[0])
        return False
    for attribute in _WRAPPED:
        inner = getattr(application, attribute, None)
        if inner is not None and inner is not application:
            return _routes_notifications(inner, depth + 1, path)
    return None


@checks.register()
def check_categories(app_configs, **kwargs):
    """Categories are validated on every create and shown in the readers' preferences: a
    malformed one fails at start-up, not at the first notification."""
    from clarion.notifications.categories import configuration_errors

    problems = configuration_errors(clarion_settings.CATEGORIES, clarion_settings.DEFAULT_CATEGORY)
    return [checks.Error(problem, hint='e.g. {"comment": {"label": "Comments", "locked": False, '
                                       '"channels": ["in_app"]}}; docs/configuration.md', id="clarion.E011")
            for problem in problems]


@checks.register()
def check_delivery(app_configs, **kwargs):
    """Mails and pushes leave the site: their links must be absolute, and the worker's timings
    must make sense (docs/delivery.md)."""
    problems = []
    site_url = clarion_settings.SITE_URL
    if not site_url:
        problems.append(checks.Warning(
            "CLARION['SITE_URL'] is empty: links in mails and pushes are relative, which mail clients cannot open",
            hint='Set it to the address readers open the site at, e.g. "https://projects.example.edu".',
            id="clarion.W003"))
    elif not site_url.startswith(("http://", "https://")):
        problems.append(checks.Error(f"CLARION['SITE_URL'] = {site_url!r} is not an http(s) address",
                                     hint='e.g. "https://projects.example.edu"', id="clarion.E012"))
    for name in ("EMAIL_UNREAD_AFTER", "DELIVERY_INTERVAL", "DELIVERY_LEASE", "DELIVERY_RETRY_BASE",
                 "DELIVERY_RETRY_CAP"):
        value = getattr(clarion_settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problems.append(checks.Error(f"CLARION[{name!r}] must be a number of seconds >= 0, got {value!r}",
                                         id="clarion.E012"))
    for name in ("DELIVERY_BATCH", "DELIVERY_MAX_ATTEMPTS"):
        value = getattr(clarion_settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(checks.Error(f"CLARION[{name!r}] must be a whole number >= 1, got {value!r}",
                                         id="clarion.E012"))
    return problems


@checks.register()
def check_web_push(app_configs, **kwargs):
    """A VAPID key that cannot sign, or a subject push services refuse, would fail every push
    (docs/delivery-push.md)."""
    from django.core.exceptions import ImproperlyConfigured

    from clarion.delivery import vapid

    problems = []
    try:
        vapid.from_settings()
    except ImproperlyConfigured as exc:
        problems.append(checks.Error(str(exc), hint="or leave both keys empty: a pair is then generated and kept "
                                                    "in the database", id="clarion.E013"))
    subject = clarion_settings.VAPID_SUBJECT
    if not isinstance(subject, str) or not re.match(r"^(mailto:[^@\s]+@[^@\s]+|https://[^/\s]+)", subject):
        problems.append(checks.Error(f"CLARION['VAPID_SUBJECT'] = {subject!r} is not a mailto: or https: contact",
                                     hint='e.g. "mailto:it-support@example.edu"', id="clarion.E013"))
    ttl = clarion_settings.PUSH_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        problems.append(checks.Error(f"CLARION['PUSH_TTL'] must be a whole number of seconds >= 0, got {ttl!r}",
                                     id="clarion.E013"))
    return problems
