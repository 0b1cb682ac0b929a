"""Settings for the in-process test suite.

CLARION_TEST_BACKEND picks the backend the suite runs against: "embedded" (SQLite and the
in-process layer, the default), "scaleout" (PostgreSQL and Redis) or "cluster" (PostgreSQL and
a Redis Cluster; the tests marked ``cluster``). scripts/test.sh runs the suite once with each.
"""

import os

os.environ.setdefault("CLARION_DATA_DIR", os.path.join(os.path.dirname(__file__), ".data"))
os.environ.setdefault("CLARION_SECRET_KEY", "test-secret-key-not-for-production-0123456789")

from clarion.server.settings import *  # noqa: E402,F401,F403

BACKEND = os.environ.get("CLARION_TEST_BACKEND", "embedded")
PG_URL = os.environ.get("CLARION_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("CLARION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CLUSTER_TEST_URL = os.environ.get("CLARION_TEST_REDIS_CLUSTER_URL", "redis+cluster://127.0.0.1:7000")

if BACKEND == "cluster":
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(PG_URL)}
    DATABASES["default"]["TEST"] = {"NAME": "clarion_unit_test"}
    CLARION = {**CLARION, "BROKER": "clarion.realtime.broker_redis_cluster.RedisClusterBroker",  # noqa: F405
               "BROKER_OPTIONS": {"url": REDIS_CLUSTER_TEST_URL, "prefix": "clarion-unit"}}
elif BACKEND == "scaleout":
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(PG_URL)}
    DATABASES["default"]["TEST"] = {"NAME": "clarion_unit_test"}
    CLARION = {**CLARION, "BROKER": "clarion.realtime.broker_redis.RedisBroker",  # noqa: F405
               "BROKER_OPTIONS": {"url": REDIS_TEST_URL, "prefix": "clarion-unit"}}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    CLARION = {**CLARION, "BROKER": "clarion.realtime.broker_memory.MemoryBroker"}  # noqa: F405

if BACKEND in ("scaleout", "cluster"):
    # Django's PostgreSQL backend with a cheaper flush between transactional tests (DELETE, not
    # TRUNCATE): tests/postgresql_backend/base.py says why.
    DATABASES["default"]["ENGINE"] = "tests.postgresql_backend"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
