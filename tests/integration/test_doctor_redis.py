"""`clarion doctor` says which Redis the processes meet in, and fails when it is not healthy."""

import pytest

from tests.integration.harness import CLUSTER, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.scaleout, pytest.mark.cluster]


def test_doctor_reports_the_redis_it_uses(backend):
    result = run_cli(backend, "doctor")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    if CLUSTER:
        assert first.startswith("redis: Redis Cluster, state ok: 3 masters (127.0.0.1:700")
        assert "3 replicas, 16384 of 16384 slots served; notification channels in 16 buckets" in first
    else:
        assert first.startswith("redis: one Redis server 7.")


def test_doctor_fails_when_redis_cannot_be_reached(backend, tmp_path):
    unreachable = "redis+cluster://127.0.0.1:1" if CLUSTER else "redis://127.0.0.1:1/0"
    result = run_cli({**backend, "REDIS_URL": unreachable}, "doctor")
    assert result.returncode == 1
    assert result.stdout.startswith(f"redis: cannot reach {unreachable} (")
    assert result.stderr.strip() == "clarion doctor: error: Redis is not healthy (see above)"
