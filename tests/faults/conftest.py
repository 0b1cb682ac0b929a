"""Fault-suite fixtures: a private PostgreSQL cluster and Redis, Clarion servers on them.

Marked scale-out: these run in the second pass of scripts/test.sh, against real PostgreSQL
and Redis processes that the tests may kill."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.faults.services import PrivatePostgres, PrivateRedis, PrivateRedisCluster
from tests.integration.harness import CLUSTER, ServerProcess, run_cli


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.scaleout)
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def private_postgres():
    # Not under pytest's tmp dir: the postgres user must reach it, and that dir is private.
    workdir = Path(tempfile.mkdtemp(prefix="clarion-faults-pg-"))
    workdir.chmod(0o755)
    pg = PrivatePostgres(workdir).init()
    yield pg
    pg.stop("immediate")
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def private_redis(tmp_path):
    """One Redis, or on the cluster backend a Redis Cluster of six nodes that the same
    faults (kill, pause, restart empty) take away and bring back whole."""
    redis = (PrivateRedisCluster(tmp_path / "redis-cluster") if CLUSTER else PrivateRedis(tmp_path)).start()
    yield redis
    redis.stop()



@pytest.fixture(scope="session")
def fault_template():
    """Migrated and seeded once (the first fault_env does it); each test's database is a copy."""
    return {}


@pytest.fixture
def fault_env(private_postgres, private_redis, fault_template, tmp_path):
    """A migrated, seeded backend on the private services (a fresh database per test, copied
    from a template that the first test migrates and seeds: 3-4 s of CLI runs saved per test)."""
    import psycopg

    admin_url = private_postgres.url.replace("postgres://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    template_url = private_postgres.url.rsplit("/", 1)[0] + "/clarion_template"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLARION_", "DJANGO_"))}
    env.update({
        "CLARION_DATA_DIR": str(tmp_path / "data"),
        "CLARION_SECRET_KEY": "fault-suite-secret-key-0123456789-abcdefghijklmnop",
        "CLARION_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": private_postgres.url,
        "REDIS_URL": private_redis.url,
    })
    (tmp_path / "data").mkdir()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not fault_template:
            conn.execute('DROP DATABASE IF EXISTS "clarion_template" WITH (FORCE)')
            conn.execute('CREATE DATABASE "clarion_template"')
            for args in (("migrate",), ("seed-demo", "--force")):
                result = run_cli(dict(env, DATABASE_URL=template_url), *args)
                assert result.returncode == 0, result.stderr
            fault_template["url"] = template_url
        conn.execute('DROP DATABASE IF EXISTS "clarion" WITH (FORCE)')
        conn.execute('CREATE DATABASE "clarion" TEMPLATE "clarion_template"')
    return env


def two_servers(env: dict, logs: Path):
    """Two server processes on ``env``, stopped afterwards (a generator for fixtures)."""
    started = []
    try:
        for name in ("a", "b"):
            started.append(ServerProcess(env, logs / f"server-{name}.log").start())
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def servers(fault_env, tmp_path):
    """Two server processes on the private services."""
    yield from two_servers(fault_env, tmp_path)
