"""PostgreSQL stopped and started again under a running cluster: clear 503s and try-again
close codes while it is down, never a push without a commit, recovery without a restart."""

import asyncio
import uuid

from tests.faults.recorder import Recorder, assert_back_to_baseline, baseline
from tests.integration.harness import close_code


async def test_postgres_down_gives_503_and_1013_and_recovers_without_restart(servers, private_postgres):
    a, b = servers
    tokens = {name: a.token(name) for name in ("alice", "dave")}
    prefix = f"pg-{uuid.uuid4().hex[:6]}"
    tab = await Recorder(b, tokens["alice"], prefix=prefix).start()
    before = a.notify(tokens["dave"], title=f"{prefix} before", recipient_type="role", recipient_id="student")
    await tab.wait_for([before["id"]], timeout=10)
    resources = baseline(servers)

    private_postgres.stop()
    try:
        status, body = a.request("POST", "/api/notifications/",
                                 {"title": f"{prefix} during", "recipient_type": "all"}, tokens["dave"])
        assert status == 503, (status, body)
        assert body["detail"]
        async with a.socket(tokens["alice"]) as ws:
            assert await close_code(ws) == 1013  # try again later, with backoff
        await asyncio.sleep(1.5)  # the open socket stays open and is told nothing false
        assert [n.title for n in tab.shown] == [f"{prefix} before"]
    finally:
        private_postgres.start()

    created = []
    for attempt in range(50):  # pooled connections notice the restart on first use
        status, body = a.request("POST", "/api/notifications/",
                                 {"title": f"{prefix} after", "recipient_type": "role", "recipient_id": "student"},
                                 tokens["dave"])
        if status == 201:
            created.append(body["id"])
            break
        assert status == 503, (status, body)
        await asyncio.sleep(0.2)
    assert created, "the API did not recover"
    await tab.wait_for(created, timeout=15)
    tab.assert_exactly_once_in_order([before["id"], *created])
    assert all(s.process.poll() is None for s in servers)
    await tab.stop()
    await assert_back_to_baseline(servers, resources)
