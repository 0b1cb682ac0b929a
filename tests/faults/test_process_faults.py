"""Server processes that die or drain, a commit whose push never happened, and a client that
never reads: nothing committed is lost, healthy clients do not notice."""

import asyncio
import base64
import concurrent.futures
import signal
import socket
import time
import uuid

import psycopg

from tests.faults.recorder import Recorder
from tests.integration.harness import ServerProcess, close_code


def sql(private_postgres, statement, params=()):
    with psycopg.connect(private_postgres.url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        return conn.execute(statement, params).fetchall() if statement.lstrip().upper().startswith(("SELECT", "INSERT")) \
            else conn.execute(statement, params)


async def test_a_commit_whose_process_died_before_the_push_still_reaches_its_users(servers, private_postgres):
    a, b = servers
    tokens = {name: a.token(name) for name in ("alice", "bob")}
    prefix = f"crash-{uuid.uuid4().hex[:6]}"
    tabs = [await Recorder(a, tokens["alice"], prefix=prefix).start(),
            await Recorder(b, tokens["bob"], prefix=prefix).start()]
    # Committed, never sequenced: the process died right after COMMIT.
    unsequenced = sql(private_postgres, """
        INSERT INTO clarion_notification (title, message, notification_type, recipient_type, recipient_id,
                                          created_at, link, data)
        VALUES (%s, '', 'info', 'role', 'student', now(), '', '{}') RETURNING id""", (f"{prefix} unsequenced",))[0][0]
    # Sequenced and committed, push never made: the process died between COMMIT and PUBLISH.
    with psycopg.connect(private_postgres.url.replace("postgres://", "postgresql://")) as conn:
        position = conn.execute("UPDATE clarion_streamhead SET position = position + 1 WHERE name = 'notifications' "
                                "RETURNING position").fetchone()[0]
        unpushed = conn.execute("""
            INSERT INTO clarion_notification (title, message, notification_type, recipient_type, recipient_id,
                                              created_at, link, data, seq)
            VALUES (%s, '', 'info', 'all', '', now(), '', '{}', %s) RETURNING id""",
                                (f"{prefix} unpushed", position)).fetchone()[0]
    started = time.monotonic()
    for tab in tabs:
        await tab.wait_for([unsequenced, unpushed], timeout=10)
        tab.assert_exactly_once_in_order([unsequenced, unpushed])
        await tab.stop()
    print(f"\ncommit without push: delivered by the relay within {time.monotonic() - started:.2f} s")


async def test_server_killed_while_holding_sockets_loses_nothing(servers, fault_env, tmp_path):
    a, b = servers
    tokens = {name: a.token(name) for name in ("alice", "dave")}
    prefix = f"sigkill-{uuid.uuid4().hex[:6]}"
    tab = await Recorder(b, tokens["alice"], prefix=prefix).start()
    created = [a.notify(tokens["dave"], title=f"{prefix} 0", recipient_type="role", recipient_id="student")["id"]]
    await tab.wait_for(created, timeout=10)
    b.stop(sig=signal.SIGKILL)
    for i in range(1, 6):  # while the client's server is dead
        created.append(a.notify(tokens["dave"], title=f"{prefix} {i}", recipient_type="role",
                                recipient_id="student")["id"])
    restarted = ServerProcess(fault_env, tmp_path / "server-b2.log", port=b.port).start()
    try:
        took = await tab.wait_for(created, timeout=20)
        tab.assert_exactly_once_in_order(created)
        print(f"\nserver SIGKILL: client resumed on the restarted process, all {len(created)} shown, "
              f"{took:.1f} s after restart")
        await tab.stop()
    finally:
        restarted.stop()


async def test_graceful_shutdown_tells_clients_1012_and_loses_nothing(servers, fault_env, tmp_path):
    a, b = servers
    tokens = {name: a.token(name) for name in ("alice", "dave")}
    prefix = f"drain-{uuid.uuid4().hex[:6]}"
    tab = await Recorder(b, tokens["alice"], prefix=prefix).start()
    async with b.socket(tokens["alice"]) as raw:
        await raw.recv()
        started = time.monotonic()
        b.process.send_signal(signal.SIGTERM)
        assert await close_code(raw, timeout=10) == 1012  # service restart: reconnect elsewhere
    b.process.wait(15)
    # uvicorn re-raises the signal once it has shut down cleanly, so the status names SIGTERM.
    assert b.process.returncode in (0, -signal.SIGTERM)
    drained = time.monotonic() - started
    created = [a.notify(tokens["dave"], title=f"{prefix} {i}", recipient_type="all")["id"] for i in range(3)]
    restarted = ServerProcess(fault_env, tmp_path / "server-b2.log", port=b.port).start()
    try:
        await tab.wait_for(created, timeout=20)
        tab.assert_exactly_once_in_order(created)
        await tab.stop()
    finally:
        restarted.stop()
    print(f"\nSIGTERM: sockets closed with 1012, process exited in {drained:.2f} s")


async def test_a_client_that_never_reads_is_cut_off_and_others_do_not_notice(private_postgres, private_redis,
                                                                             fault_env, tmp_path):
    env = {**fault_env, "CLARION_OUTBOX_LIMIT": "50"}
    server = ServerProcess(env, tmp_path / "server.log").start()
    try:
        tokens = {name: server.token(name) for name in ("alice", "bob", "dave")}
        prefix = f"stuck-{uuid.uuid4().hex[:6]}"
        healthy = await Recorder(server, tokens["alice"], prefix=prefix).start()
        stuck = _never_reading_socket(server, tokens["bob"])
        body = "x" * 5000
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            created = [f.result()["id"] for f in [
                pool.submit(server.notify, tokens["dave"], title=f"{prefix} {i}", message=body, recipient_type="all")
                for i in range(600)]]
        await healthy.wait_for(created, timeout=30)
        healthy.assert_exactly_once_in_order(created)
        code = _close_code_of(stuck)
        print(f"\nslow consumer: closed with {code}; the healthy client got all {len(created)}")
        assert code == 4008
        await healthy.stop()
    finally:
        server.stop()


def _never_reading_socket(server, token) -> socket.socket:
    """A WebSocket handshake by hand, then a tiny receive window that is never drained."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(uuid.uuid4().bytes).decode()
    sock.sendall((f"GET /ws/notifications/?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nOrigin: {server.url}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return sock


def _close_code_of(sock: socket.socket) -> int | None:
    """Read everything now (the server gave up on it) and return the close frame's code."""
    sock.settimeout(10)
    data = b""
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        sock.close()
    offset = 0
    while offset + 2 <= len(data):
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            length, offset = int.from_bytes(data[offset:offset + 2], "big"), offset + 2
        elif length == 127:
            length, offset = int.from_bytes(data[offset:offset + 8], "big"), offset + 8
        if opcode == 0x8:
            return int.from_bytes(data[offset:offset + 2], "big")
        offset += length
    return None
