"""The standalone server's HTTP handler: each request's sync code on a thread of its own, the
thread reused by the next request instead of one started per request (issue 11)."""

import asyncio
import threading

import pytest
from django.core.signals import request_finished

from clarion.server.http import CAN_OWN_EXECUTOR, PooledThreadASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def get(app, path):
    """One GET through the ASGI app; returns the status."""
    sent = []
    done = False

    async def receive():
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # no disconnect: the request completes first

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 5000), "server": ("localhost", 80)}
    return app(scope, receive, send), sent


@pytest.mark.skipif(not CAN_OWN_EXECUTOR, reason="this asgiref cannot lend an executor to a request")
def test_sequential_requests_run_their_sync_code_on_one_reused_thread():
    threads = []

    def record(**_):
        threads.append(threading.current_thread())

    request_finished.connect(record)
    try:
        app = PooledThreadASGIHandler()

        async def three_requests():
            statuses = []
            for _ in range(3):
                call, sent = get(app, "/api/notifications/")
                await call
                statuses.append(sent[0]["status"])
            return statuses

        assert asyncio.run(three_requests()) == [401, 401, 401]
    finally:
        request_finished.disconnect(record)
    assert len(threads) == 3 and len(set(threads)) == 1
    assert threads[0] is not threading.main_thread() and threads[0].name.startswith("clarion-http")


@pytest.mark.skipif(not CAN_OWN_EXECUTOR, reason="this asgiref cannot lend an executor to a request")
def test_a_request_is_started_answered_and_finished_in_one_trip_to_its_thread(monkeypatch):
    """request_started, the view and request_finished in one piece of work on the request's
    thread (Django's handler made three trips for them), and the answer still whole."""
    from django.core.signals import request_started

    from clarion.server import http

    trips, started, finished = [], [], []
    submit = http.RequestThread.submit

    def counting_submit(self, fn, /, *args, **kwargs):
        trips.append(fn)
        return submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(http.RequestThread, "submit", counting_submit)
    record_start = lambda **_: started.append(threading.current_thread())  # noqa: E731
    record_finish = lambda **_: finished.append(threading.current_thread())  # noqa: E731
    request_started.connect(record_start)
    request_finished.connect(record_finish)
    try:
        call, sent = get(PooledThreadASGIHandler(), "/api/notifications/")
        asyncio.run(call)
    finally:
        request_started.disconnect(record_start)
        request_finished.disconnect(record_finish)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 401
    assert b"".join(m.get("body", b"") for m in sent[1:]).startswith(b"{")
    assert len(trips) == 1
    assert started == finished and len(started) == 1 and started[0].name.startswith("clarion-http")
