"""REDIS_URL: which client a URL names, and one clear line for a URL that names none."""

import asyncio
import re
import uuid
import subprocess
import sys

import pytest

from clarion.realtime import redis_client
from clarion.realtime.redis_client import InvalidRedisURL


def test_a_cluster_url_names_its_nodes_and_credentials():
    parsed = redis_client.parse_cluster_url("redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001/0")
    assert parsed.nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert (parsed.username, parsed.password, parsed.ssl) == ("app", "s@cret", False)
    assert "s@cret" not in repr(parsed)
    assert redis_client.parse_cluster_url("rediss+cluster://[::1]:7000").nodes == [("::1", 7000)]
    assert redis_client.parse_cluster_url("rediss+cluster://h:1").client_options() == {"ssl": True}


@pytest.mark.parametrize("url, expected", [
    ("redis+cluster://", "not a cluster URL"),
    ("redis+cluster://host", "node 'host' is not host:port"),
    ("redis+cluster://host:70000", "node 'host:70000' is not host:port"),
    ("redis+cluster://a:1,,b:2", "node '' is not host:port"),
    ("redis+cluster://a:1/3", "only database 0, got /3"),
    ("redis+cluster://a:1?timeout=3", "takes no ?options"),
    ("http://a:1", "expected redis://"),
    ("redis://a:notaport", "REDIS_URL"),
])
def test_a_bad_url_is_refused_with_what_was_expected(url, expected):
    with pytest.raises(InvalidRedisURL, match=re.escape(expected)):
        redis_client.validate(url)


def test_the_password_never_appears_in_the_message():
    with pytest.raises(InvalidRedisURL) as refused:
        redis_client.validate("redis+cluster://user:hunter2@a:1/5")
    assert "hunter2" not in str(refused.value)


def test_clients_follow_the_url():
    from redis.asyncio.cluster import RedisCluster

    assert isinstance(redis_client.connect("redis+cluster://127.0.0.1:1"), RedisCluster)
    assert not isinstance(redis_client.connect("redis://127.0.0.1:1/0"), RedisCluster)


def test_the_server_refuses_a_malformed_cluster_url_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CLARION_DATA_DIR": str(tmp_path), "REDIS_URL": "redis+cluster://nohost",
           "CLARION_SECRET_KEY": "x" * 50}
    result = subprocess.run([sys.executable, "-m", "clarion.cli.main", "migrate"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "clarion migrate: error: ImproperlyConfigured: REDIS_URL 'redis+cluster://nohost': node 'nohost' is not "
        "host:port (expected redis+cluster://[user:password@]host:port[,host:port...])"]


async def test_more_commands_in_flight_than_pooled_connections_wait_for_one_instead_of_failing():
    # 150 blocking pops at once on one client: redis-py 8's default pool refuses the 101st with
    # MaxConnectionsError; Clarion's waits until one of the first hundred is answered.
    client = redis_client.connect("redis://127.0.0.1:6379/0", socket_timeout=5)
    try:
        answers = await asyncio.gather(*(client.blpop([f"clarion-test-pool-{uuid.uuid4().hex}"], timeout=0.2)
                                         for _ in range(150)))
    finally:
        await client.aclose()
    assert answers == [None] * 150
