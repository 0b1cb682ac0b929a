"""Shared limits while Redis is gone (docs/security.md, "Floods"): each process counts on its
own, logs that once, refuses nobody for Redis's sake, and counts across processes again once
Redis is back."""

import asyncio

import pytest

from tests.faults.conftest import two_servers
from tests.integration.harness import close_code, next_frame

PER_USER = 2


@pytest.fixture
def limited_servers(fault_env, tmp_path):
    yield from two_servers({**fault_env, "CLARION_MAX_CONNECTIONS_PER_USER": str(PER_USER)}, tmp_path)


async def _snapshot(ws) -> dict:
    frame = await next_frame(ws, 10)
    assert frame["type"] == "recent_notifications", frame
    return frame


async def test_without_redis_limits_count_per_process_and_refuse_nobody_for_it(limited_servers, private_redis):
    a, b = limited_servers
    token, admin = a.token("alice"), a.token("dave")
    private_redis.kill()
    async with a.socket(token) as a1, a.socket(token) as a2:
        await _snapshot(a1)
        await _snapshot(a2)
        async with a.socket(token) as a3:  # this process's own count still holds
            assert await close_code(a3) == 4029
        created = a.notify(admin, title="during the outage", recipient_type="user",
                           recipient_id=a.request("GET", "/api/me/", token=token)[1]["id"])
        async with b.socket(token) as b1:  # per process now: b admits its own two
            snapshot = await _snapshot(b1)
            assert created["id"] in [n["id"] for n in snapshot["data"]["notifications"]]
        warnings = [line for line in a.log().splitlines() if "counting per process" in line]
        assert len(warnings) == 1, a.log()[-3000:]  # once, not per connect
    private_redis.start()
    await asyncio.sleep(6)  # Redis is asked again after the retry pause
    async with a.socket(token) as a1, b.socket(token) as b1:
        await _snapshot(a1)
        await _snapshot(b1)
        async with b.socket(token) as over:  # one count over both processes again
            assert await close_code(over) == 4029
    assert any("counting across processes" in line for line in a.log().splitlines() + b.log().splitlines())
