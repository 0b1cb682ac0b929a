"""Settings of the standalone server; the only module that reads the environment.

Zero configuration gives the embedded default: SQLite in CLARION_DATA_DIR (default:
.clarion in the working directory) and the in-process broker (one server process). REDIS_URL selects the
Redis broker and cache, so the hubs of several processes share groups; DATABASE_URL names the
database (sqlite:///path or postgres://...). See docs/configuration.md.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from clarion.server.datadir import private_data_dir
from clarion.server.email_url import email_settings


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("CLARION_DATA_DIR", ".clarion")).resolve()
DEBUG = _env_bool("CLARION_DEBUG")
_DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not _DATABASE_URL or not os.environ.get("CLARION_SECRET_KEY"):
    # It holds the database or the secret key: 0700, its files 0600 (clarion.server.datadir).
    private_data_dir(DATA_DIR, database=None if _DATABASE_URL else DATA_DIR / "clarion.sqlite3")


def _secret_key() -> str:
    if os.environ.get("CLARION_SECRET_KEY"):
        return os.environ["CLARION_SECRET_KEY"]
    # Without a configured key, keep a generated one beside the database so that tokens
    # survive a restart; never a constant that would be the same on every installation.
    path = DATA_DIR / ".clarion-secret-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, even briefly
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _env_list("CLARION_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")


# -- Behind TLS (docs/configuration.md, "Serving over HTTPS"); clarion.W001 warns when a
# server that names a public host has none of it.
def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """"X-Forwarded-Proto: https" -> ("HTTP_X_FORWARDED_PROTO", "https"), Django's form."""
    if not value.strip():
        return None
    name, colon, expected = value.partition(":")
    if not colon or not name.strip() or not expected.strip():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"CLARION_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https', got {value!r}")
    return "HTTP_" + name.strip().upper().replace("-", "_"), expected.strip()


HTTPS = _env_bool("CLARION_HTTPS")
# Cookies only over TLS: the session cookie is the web UI's sign-in.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("CLARION_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("CLARION_HSTS_INCLUDE_SUBDOMAINS")
# Which header of the TLS-terminating proxy says a request came over https. Only set it when
# that proxy always sets (or strips) the header: a client could otherwise claim https.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("CLARION_PROXY_SSL_HEADER", ""))
# Origins (scheme://host[:port]) whose unsafe requests pass the CSRF check although they are
# not this server's own scheme and host, e.g. a proxy that rewrites Host.
CSRF_TRUSTED_ORIGINS = _env_list("CLARION_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",  # /django-admin/: notifications, delivery records (clarion.admin)
    "django.contrib.messages",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "clarion",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clarion.api.middleware.DatabaseUnavailableMiddleware",
    # No page of Clarion is meant to be framed: a framed /api/auth/logout/ signed a victim out in one click.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
X_FRAME_OPTIONS = "DENY"

ROOT_URLCONF = "clarion.server.urls"
ASGI_APPLICATION = "clarion.server.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                           "django.contrib.auth.context_processors.auth",
                                           "django.contrib.messages.context_processors.messages"]},
    }
]

_SQLITE_OPTIONS = {
    # WAL lets socket reads proceed during writes; IMMEDIATE avoids upgrade deadlocks.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

DATABASES = {
    "default": dj_database_url.parse(_DATABASE_URL or f"sqlite:///{DATA_DIR / 'clarion.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**_SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    # Opening SQLite is cheap but not free, and every socket connect touches it; each
    # thread keeps its connection (closed with the thread), there is no server to exhaust.
    DATABASES["default"]["CONN_MAX_AGE"] = None
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI each request may run on its own thread, so persistent connections leak
    # until PostgreSQL refuses clients; psycopg's pool bounds and reuses them instead.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": int(os.environ.get("CLARION_DB_POOL_SIZE", "20")),
        # Seconds a request waits for a connection. Short: when PostgreSQL is down, a REST
        # call answers 503 and a socket closes 1013 (try again) instead of hanging.
        "timeout": 3,
    }

REDIS_URL = os.environ.get("REDIS_URL", "")
# What every key and channel of this site starts with: two sites (or two test databases) can
# share one Redis without hearing each other's groups or counting each other's limits.
REDIS_PREFIX = os.environ.get("CLARION_REDIS_PREFIX", "clarion")
# Clarion's sockets are fed by its own per-process hub, not by Channels' layers (see
# docs/decisions/0005-fanout-hub.md); the layer stays configured for host code that uses it.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
if REDIS_URL:
    from clarion.realtime import redis_client

    try:
        redis_client.validate(REDIS_URL)
    except redis_client.InvalidRedisURL as exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(str(exc)) from None
    # Throttles and the sign-in lockout count in this cache: shared by every process.
    CACHES = {"default": {"BACKEND": "clarion.cache.RedisClusterCache" if redis_client.is_cluster(REDIS_URL)
                          else "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": REDIS_PREFIX}}

# The per-account sign-in lockout first: a locked username is refused by every authenticate(),
# the Django admin's login form included (clarion.auth.lockout).
AUTHENTICATION_BACKENDS = ["clarion.auth.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [] if DEBUG else [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
# What a reader may choose in their preferences (GET /api/preferences/ "locale").
LANGUAGES = [("en", "English"), ("th", "Thai")]
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True  # notifications in the reader's language (clarion.notifications.messages)
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
# The web UI, built from clients/web (absent on a Python-only install: the pages then say how
# to build it). Its file names carry a content hash, so browsers may keep them forever.
_UI_STATIC = Path(__file__).resolve().parent / "static"
STATICFILES_DIRS = [_UI_STATIC] if _UI_STATIC.is_dir() else []
WHITENOISE_IMMUTABLE_FILE_TEST = r"/clarion-ui/[\w-]+\.[A-Z0-9]{8}\.(js|css)(\.map)?$"

REST_FRAMEWORK = {
    # JWT first: its WWW-Authenticate header makes unauthenticated requests 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, plus refusing tokens of ended sessions (logout, password change).
        "clarion.auth.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's JSON parser with Clarion's nesting limit: a deeply nested body is a 400, never a 500.
    "DEFAULT_PARSER_CLASSES": [
        "clarion.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # JSON only: the browsable API is a page of forms that can be framed and clicked (DEBUG only).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # How many reverse proxies set X-Forwarded-For in front of the server; the throttles then see
    # each client's own address. 0 (default): the header is ignored, so it cannot be forged.
    "NUM_PROXIES": int(os.environ.get("CLARION_NUM_PROXIES", "0")) or None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("CLARION_ACCESS_TOKEN_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ALGORITHM": "HS256",
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clarion API",
    "DESCRIPTION": "Real-time notifications. The WebSocket protocol is documented in docs/protocol.md.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

CLARION = {
    "ALLOWED_ORIGINS": _env_list("CLARION_ALLOWED_ORIGINS"),
    "SIGNIN_LOCKOUT_FAILURES": int(os.environ.get("CLARION_SIGNIN_LOCKOUT_FAILURES", "10")),
    "SIGNIN_LOCKOUT_WINDOW": float(os.environ.get("CLARION_SIGNIN_LOCKOUT_WINDOW", "900")),
    "MAX_CONNECTIONS_PER_USER": int(os.environ.get("CLARION_MAX_CONNECTIONS_PER_USER", "50")),
    "MESSAGE_RATE": float(os.environ.get("CLARION_MESSAGE_RATE", "20")),
    "MESSAGE_BURST": int(os.environ.get("CLARION_MESSAGE_BURST", "60")),
    "RATE_LIMIT_COOLDOWN": float(os.environ.get("CLARION_RATE_LIMIT_COOLDOWN", "10")),
    "CHAT_RATE": float(os.environ.get("CLARION_CHAT_RATE", "5")),
    "CHAT_BURST": int(os.environ.get("CLARION_CHAT_BURST", "10")),
    "WS_PING_INTERVAL": float(os.environ.get("CLARION_WS_PING_INTERVAL", "20")),
    "WS_PING_TIMEOUT": float(os.environ.get("CLARION_WS_PING_TIMEOUT", "20")),
    "MAX_FRAME_BYTES": int(os.environ.get("CLARION_MAX_FRAME_BYTES", 64 * 1024)),
    "HEALTH_INTERVAL": float(os.environ.get("CLARION_HEALTH_INTERVAL", "2.0")),
    "METRICS_TOKEN": os.environ.get("CLARION_METRICS_TOKEN", ""),
    "METRICS_PUBLIC": _env_bool("CLARION_METRICS_PUBLIC"),
    "METRICS_ALLOWED_IPS": _env_list("CLARION_METRICS_ALLOWED_IPS", "127.0.0.1,::1"),
    "PRESENCE_TTL": float(os.environ.get("CLARION_PRESENCE_TTL", "20")),
    "OUTBOX_LIMIT": int(os.environ.get("CLARION_OUTBOX_LIMIT", "1000")),
    "RETENTION_DAYS": int(os.environ.get("CLARION_RETENTION_DAYS", "365")),
    # Behind a reverse proxy every client has its address: exempt it from per-address limits.
    "CONNECTION_LIMIT_EXEMPT_IPS": _env_list("CLARION_CONNECTION_LIMIT_EXEMPT_IPS", "127.0.0.1,::1"),
    # Email and Web Push (docs/delivery.md).
    "SITE_URL": os.environ.get("CLARION_SITE_URL", "http://localhost:8000"),
    "EMAIL_UNREAD_AFTER": float(os.environ.get("CLARION_EMAIL_UNREAD_AFTER", "600")),
    "DELIVERY_WORKER": _env_bool("CLARION_DELIVERY_WORKER", True),
    "DELIVERY_INTERVAL": float(os.environ.get("CLARION_DELIVERY_INTERVAL", "1.0")),
    "DELIVERY_LEASE": float(os.environ.get("CLARION_DELIVERY_LEASE", "60")),
    "DELIVERY_RETRY_BASE": float(os.environ.get("CLARION_DELIVERY_RETRY_BASE", "30")),
    "DELIVERY_MAX_ATTEMPTS": int(os.environ.get("CLARION_DELIVERY_MAX_ATTEMPTS", "8")),
    # Web Push: unset keys are generated once and kept in the database (docs/delivery-push.md).
    "VAPID_PRIVATE_KEY": os.environ.get("CLARION_VAPID_PRIVATE_KEY", ""),
    "VAPID_PUBLIC_KEY": os.environ.get("CLARION_VAPID_PUBLIC_KEY", ""),
    "VAPID_SUBJECT": os.environ.get("CLARION_VAPID_SUBJECT", "mailto:admin@localhost"),
    "PUSH_TTL": int(os.environ.get("CLARION_PUSH_TTL", "86400")),
    "PUSH_SERVICE_HOSTS": _env_list("CLARION_PUSH_SERVICE_HOSTS", "fcm.googleapis.com,updates.push.services.mozilla.com,"
                                    ".notify.windows.com,.push.apple.com"),
}
# Where mail goes: CLARION_EMAIL_URL (smtp://, smtp+tls://, smtps://, console:); unset, Django's
# default, an SMTP server on localhost:25.
globals().update(email_settings(os.environ.get("CLARION_EMAIL_URL", "")))
DEFAULT_FROM_EMAIL = os.environ.get("CLARION_EMAIL_FROM", "Clarion <clarion@localhost>")
if REDIS_URL:
    # Several server processes: their hubs meet in Redis pub/sub (sharded on a cluster).
    if redis_client.is_cluster(REDIS_URL):
        CLARION["BROKER"] = "clarion.realtime.broker_redis_cluster.RedisClusterBroker"
        CLARION["BROKER_OPTIONS"] = {"url": REDIS_URL, "prefix": REDIS_PREFIX,
                                     "buckets": int(os.environ.get("CLARION_REDIS_BUCKETS", "16"))}
    else:
        CLARION["BROKER"] = "clarion.realtime.broker_redis.RedisBroker"
        CLARION["BROKER_OPTIONS"] = {"url": REDIS_URL, "prefix": REDIS_PREFIX}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "clarion": {"handlers": ["console"], "level": os.environ.get("CLARION_LOG_LEVEL", "INFO"), "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING"},
    },
}
