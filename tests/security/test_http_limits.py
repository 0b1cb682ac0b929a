"""Idle HTTP connections against a real `clarion serve` (issue 10, finding 2): silent
connections and half-sent heads, WebSocket upgrades included, are closed after the header
timeout; connections beyond the bound are answered 503 at once, and logged; the server serves
normal requests all along."""

import resource
import socket
import time
import urllib.request

import pytest

from tests.integration.harness import ServerProcess, prepare_backend

# The HTTP server's limits, before any request reaches the backend: run once, in the embedded pass.
pytestmark = [pytest.mark.integration, pytest.mark.once]

TIMEOUT = 1.0
LIMIT = 24


class BoundedServer(ServerProcess):
    serve_args = ("--header-timeout", str(TIMEOUT), "--max-connections", str(LIMIT), "--log-level", "info")


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    env = prepare_backend(tmp_path_factory.mktemp("http-limits-data"), "clarion_http_limits")
    process = BoundedServer(env, tmp_path_factory.mktemp("http-limits-logs") / "server.log")
    # Started with a low soft open-file limit (inherited), which `clarion serve` must raise.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
    try:
        process.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    yield process
    process.stop()


def _open(server, first_bytes=b""):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _closed_within(sock, seconds) -> float | None:
    """Seconds until the server closed the connection (EOF or reset), None if it did not."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except (socket.timeout, TimeoutError):
        return None
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return time.monotonic() - started


def _get_ok(server) -> bool:
    with urllib.request.urlopen(server.url + "/api/schema/", timeout=5) as response:
        return response.status == 200


def test_silent_connections_and_half_sent_heads_are_closed_after_the_header_timeout(bounded):
    half_upgrade = (b"GET /ws/notifications/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
    sockets = [_open(bounded), _open(bounded, b"GET /api/schema/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "),
               _open(bounded, half_upgrade), _open(bounded, b"G")]
    # a keep-alive connection that starts a second request and stops halfway
    second = _open(bounded, b"GET /api/schema/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    second.settimeout(5)
    assert second.recv(12) == b"HTTP/1.1 200"
    time.sleep(0.2)
    second.sendall(b"GET /api/schema/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sockets.append(second)
    for sock in sockets:
        waited = _closed_within(sock, TIMEOUT + 3)
        assert waited is not None and waited <= TIMEOUT + 1.5, waited
    assert _get_ok(bounded)
    assert "that sent no complete request head within 1s" in bounded.log()


def test_connections_beyond_the_bound_are_answered_503_and_logged_and_requests_work_after(bounded):
    held = [_open(bounded) for _ in range(LIMIT)]
    time.sleep(0.2)
    extra = _open(bounded)
    extra.settimeout(3)
    answer = b""
    try:
        while chunk := extra.recv(4096):
            answer += chunk
    except ConnectionResetError:
        pass
    extra.close()
    assert answer.startswith(b"HTTP/1.1 503"), answer
    for sock in held:
        sock.close()
    time.sleep(0.3)
    assert _get_ok(bounded)
    assert "refused 1 connection(s)" in bounded.log() and "the limit is 24" in bounded.log()


def test_serve_raises_its_own_open_file_limit(bounded):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip("no hard limit above the soft one to raise to")
    with open(f"/proc/{bounded.process.pid}/limits") as limits:  # Linux
        line = next(line for line in limits if line.startswith("Max open files"))
    assert int(line.split()[3]) == hard  # started with 256
