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
    # Seconds between relay sweeps for committed notifications not yet published.
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
    # Seconds between system-health reports of each server process (/ws/system-health/,
    # /metrics). A process that stops reporting drops out after 3 intervals.
    "HEALTH_INTERVAL": 2.0,
    # /metrics: the Bearer token it requires, and the client addresses (or networks,
    # "10.0.0.0/8") it answers; both conditions apply. Without a token it is closed (403)
    # unless METRICS_PUBLIC opens it to the listed addresses.
    "METRICS_TOKEN": "",
    "METRICS_PUBLIC": False,
    "METRICS_ALLOWED_IPS": ["127.0.0.1", "::1"],
    # Chat messages sent in room_snapshot on a fresh connect to a collaboration room.
    "CHAT_HISTORY": 50,
    # Seconds a presence entry lives without a refresh: a process killed without a clean
    # disconnect leaves no ghost for longer than PRESENCE_TTL * 1.25 (refreshes and sweeps
    # run every PRESENCE_TTL / 4).
    "PRESENCE_TTL": 20.0,
    # Chat messages per second per user per room, and the burst allowed above that rate.
    "CHAT_RATE": 5.0,
    "CHAT_BURST": 10,
    # Shortest gap between two typing (and two cursor) frames one user sends to a room; the
    # last one inside a gap is delivered when it ends, so the final state is never lost.
    "TYPING_INTERVAL": 1.0,
    "CURSOR_INTERVAL": 0.1,
    # Sockets one user may open to one room per second on average, and at once, per server
    # process; one more is closed with 4029 before it is announced. 0 turns the limit off.
    "ROOM_JOIN_RATE": 1.0,
    "ROOM_JOIN_BURST": 10,
    # Seconds a user stays present after their last socket in a room closed: a reconnect
    # within it announces neither a leave nor a join. 0 announces the leave at once.
    "PRESENCE_LEAVE_GRACE": 2.0,
    # Abuse limits (docs/security.md, "Floods"). Frames a socket may send per second on
    # average, and at once; beyond that it is closed with 4029. 0 turns the limit off.
    "MESSAGE_RATE": 20.0,
    "MESSAGE_BURST": 60,
    # Seconds a user whose socket was closed for flooding may not open another on that
    # process (4029); 0 turns the cool-down off.
    "RATE_LIMIT_COOLDOWN": 10.0,
    # Protocol pings of `clarion serve`: every WS_PING_INTERVAL seconds a ping; a socket whose
    # peer has not answered within WS_PING_TIMEOUT is closed (1011) and its resources freed.
    # 0 interval: no pings (a vanished client then holds its socket until TCP notices).
    "WS_PING_INTERVAL": 20.0,
    "WS_PING_TIMEOUT": 20.0,
    # Open sockets per user and per client address, counted per server process; one more is
    # closed with 4029 at connect. 0 turns a limit off. Addresses (or networks) in
    # CONNECTION_LIMIT_EXEMPT_IPS are not counted: behind a reverse proxy every client has the
    # proxy's address, so list the proxy there (loopback is listed by default).
    "MAX_CONNECTIONS_PER_USER": 50,
    "MAX_CONNECTIONS_PER_IP": 200,
    "CONNECTION_LIMIT_EXEMPT_IPS": ["127.0.0.1", "::1"],
    # REST throttles (DRF rate strings "N/second|minute|hour|day"; None turns one off):
    # token, refresh and logout per client address; connect tickets per user. Over it: 429.
    "AUTH_THROTTLE_RATE": "30/minute",
    # Failed sign-ins per username (known or not) within the window, from any address, exempt
    # ones included; beyond, that username answers 429 until the window has passed, even to
    # the right password (clarion.auth.lockout). 0 turns the lockout off.
    "SIGNIN_LOCKOUT_FAILURES": 10,
    "SIGNIN_LOCKOUT_WINDOW": 900,
    "TICKET_THROTTLE_RATE": "60/minute",
    # Rooms (POST /api/rooms/) a user may create: a DRF rate per user, and how many of the
    # rooms they created may exist at once (0: no cap). Administrators are exempt from both.
    "ROOM_CREATE_THROTTLE_RATE": "30/hour",
    "MAX_ROOMS_PER_USER": 50,
    # What a notification is about: key -> label, whether a reader may turn it off ("locked":
    # deadlines, account and security notices may not), the channels it goes out on by default
    # ("in_app", "email" when still unread, "push" to a closed tab), and optionally
    # "email_delay": seconds a notification may stay unread before it is mailed (default
    # EMAIL_UNREAD_AFTER). docs/delivery.md.
    "CATEGORIES": {
        "deadline": {"label": "Deadlines", "locked": True, "channels": ["in_app", "email", "push"],
                     "email_delay": 0},
        "project_update": {"label": "Project updates", "locked": False, "channels": ["in_app", "email", "push"]},
        "comment": {"label": "Comments", "locked": False, "channels": ["in_app", "email", "push"]},
        "submission": {"label": "Submissions", "locked": False, "channels": ["in_app", "email", "push"]},
        "review": {"label": "Reviews", "locked": False, "channels": ["in_app", "email", "push"]},
        "announcement": {"label": "Announcements", "locked": False, "channels": ["in_app", "push"]},
        "system": {"label": "System and account", "locked": True, "channels": ["in_app", "email"]},
    },
    # Seconds a notification may stay unread before it is mailed, for categories without their
    # own "email_delay" (standalone server: CLARION_EMAIL_UNREAD_AFTER).
    "EMAIL_UNREAD_AFTER": 600,
    # The site's address, for the links in mails and pushes ("https://projects.example.edu").
    # "" makes them relative, which mail clients cannot open: set it in production.
    "SITE_URL": "",
    # Import string of a callable(role) -> the users holding that role (a QuerySet or an
    # iterable of users), for mails to a role; the default reads RoleAssignment.
    "ROLE_MEMBERS": "clarion.roles.assigned_members",
    # The delivery worker (`clarion serve` runs one; `clarion worker` runs one on its own): rows
    # claimed per round, seconds between rounds when idle, seconds a claim is held before a
    # dead worker's rows are taken over, attempts before a row is failed, and the retry backoff
    # (RETRY_BASE * 2**(attempt-1), at most RETRY_CAP seconds).
    "DELIVERY_WORKER": True,  # whether serving processes run one (their ASGI lifespan starts it)
    "DELIVERY_BATCH": 100,
    "DELIVERY_INTERVAL": 1.0,
    "DELIVERY_LEASE": 60.0,
    "DELIVERY_MAX_ATTEMPTS": 8,
    "DELIVERY_RETRY_BASE": 30.0,
    "DELIVERY_RETRY_CAP": 3600.0,
    # Items listed in one digest mail at most (the mail says how many more are unread).
    "DIGEST_MAX_ITEMS": 50,
    # Web Push (VAPID, RFC 8292): the server's key pair as base64url (raw private scalar and
    # uncompressed public point), generated on first use into the database when empty (so every
    # process shares it); the subject is a mailto: or https: contact for push services. Seconds
    # a push service keeps an undelivered push. docs/delivery-push.md.
    "VAPID_PRIVATE_KEY": "",
    "VAPID_PUBLIC_KEY": "",
    "VAPID_SUBJECT": "mailto:admin@localhost",
    "PUSH_TTL": 86400,
    # Hosts a push subscription's endpoint may name: the browsers' push services ("." + a domain
    # matches its subdomains). The server posts to whatever endpoint a signed-in user gives, so
    # without this list a user could make it send requests into the site's own network. "*"
    # allows any https host. Plain http only to a loopback host listed here (a local test service).
    "PUSH_SERVICE_HOSTS": ["fcm.googleapis.com", "updates.push.services.mozilla.com", ".notify.windows.com",
                           ".push.apple.com"],
    # Notifications older than this many days are deleted by `clarion prune` (expired ones
    # whatever their age); a cursor from before what is kept gets a fresh snapshot.
    "RETENTION_DAYS": 365,
    # The language of a reader who chose none in their preferences: a callable taking the user
    # and answering a code of the site's LANGUAGES, or None for the site's LANGUAGE_CODE.
    "LOCALE_RESOLVER": None,
    # Topics one reader may mute at once (each socket of theirs holds the list).
    "MAX_MUTES": 200,
    # The category of a notification created without one (REST and Python alike).
    "DEFAULT_CATEGORY": "announcement",
}

_IMPORT_STRINGS = {"ROLE_RESOLVER", "LOCALE_RESOLVER", "ROLE_MEMBERS"}


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
