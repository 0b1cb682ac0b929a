"""Clarion's settings: one namespaced dict, ``settings.CLARION``, read lazily and validated.

Modelled on DRF's ``APISettings``: defaults live here, a host site overrides any key, and
the cache is dropped when a test changes settings. Only ``clarion.server.settings`` reads
the environment.
"""

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

DEFAULTS = {
    # Roles a user may hold; role notifications address one of them by name.
    "ROLES": ["student", "advisor", "admin"],
    # Roles allowed to create notifications through the REST API.
    "ADMIN_ROLES": ["admin"],
    # Import string of a callable(user) -> role name or None.
    "ROLE_RESOLVER": "clarion.roles.assigned_role",
    # Browser origins allowed to open sockets, as "scheme://host[:port]". Same-origin
    # pages (Origin matching the Host header) are allowed when ALLOW_SAME_ORIGIN is on.
    "ALLOWED_ORIGINS": [],
    "ALLOW_SAME_ORIGIN": True,
    # Inbound frames larger than this close the socket with 1009.
    "MAX_FRAME_BYTES": 64 * 1024,
    # Unread notifications sent in recent_notifications on a fresh connect.
    "RECENT_LIMIT": 20,
    # A resume that would replay more than this gets cursor_expired and a fresh snapshot.
    "RESUME_LIMIT": 1000,
    # Seconds a publish may take before it is abandoned (clients catch up on reconnect).
    "PUBLISH_TIMEOUT": 2.0,
    # Seconds between outbox relay sweeps for committed notifications not yet published.
    "RELAY_INTERVAL": 0.5,
    # Lifetime of a single-use connect ticket, in seconds.
    "TICKET_TTL": 30,
    # Largest accepted notification.data, in bytes of JSON.
    "MAX_DATA_BYTES": 8 * 1024,
    # How hubs of different processes reach each other: the in-process broker (one server
    # process) or "clarion.realtime.broker_redis.RedisBroker" with BROKER_OPTIONS {"url": ...}.
    "BROKER": "clarion.realtime.broker_memory.MemoryBroker",
    "BROKER_OPTIONS": {},
    # Frames queued for a socket whose client stopped reading before it is cut off (4008).
    "OUTBOX_LIMIT": 1000,
}

_IMPORT_STRINGS = {"ROLE_RESOLVER"}


class ClarionSettings:
    def __init__(self):
        self._cache = {}

    def __getattr__(self, name):
        if name not in DEFAULTS:
            raise AttributeError(f"unknown Clarion setting {name!r}; known: {', '.join(sorted(DEFAULTS))}")
        if name not in self._cache:
            user = getattr(django_settings, "CLARION", {}) or {}
            unknown = set(user) - set(DEFAULTS)
            if unknown:
                raise ImproperlyConfigured(
                    f"CLARION has unknown keys {sorted(unknown)}; known: {', '.join(sorted(DEFAULTS))}"
                )
            value = user.get(name, DEFAULTS[name])
            if name in _IMPORT_STRINGS and isinstance(value, str):
                try:
                    value = import_string(value)
                except ImportError as exc:
                    raise ImproperlyConfigured(f"CLARION[{name!r}] = {value!r} cannot be imported: {exc}") from exc
            self._cache[name] = value
        return self._cache[name]

    def reload(self):
        self._cache.clear()


clarion_settings = ClarionSettings()


def _reload(*, setting, **kwargs):
    if setting == "CLARION":
        clarion_settings.reload()


setting_changed.connect(_reload)
