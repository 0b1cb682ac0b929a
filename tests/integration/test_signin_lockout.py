"""Sign-in lockout per account (docs/security.md, "Sign-in lockout"), against real servers:
on the scale-out backend the failures go to two processes in turn and still add up."""

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.harness import DEMO_PASSWORD, SCALEOUT, ServerProcess, prepare_backend

pytestmark = pytest.mark.integration

# Seconds: long enough for 10 checks of the real password hasher and the check after them on a
# loaded 2-core machine (10 s was not, once; 15 s was not, once, beside the other test pass),
# short enough to wait out once per pass.
WINDOW = 30
PASSWORD = DEMO_PASSWORD  # of the demo users; each test locks a different one


def _servers(tmp_path_factory, name, count, **env):
    backend = {**prepare_backend(tmp_path_factory.mktemp(f"{name}-data"), f"clarion_{name}"),
               "CLARION_SIGNIN_LOCKOUT_WINDOW": str(WINDOW), **env}
    return [ServerProcess(backend, tmp_path_factory.mktemp(f"{name}-logs") / f"server-{i}.log").start()
            for i in range(count)]


@pytest.fixture(scope="module")
def behind_loopback(tmp_path_factory):
    """What a first deployment looks like: every client arrives from loopback (exempt from the
    per-address throttle) and NUM_PROXIES is unset. Two processes on the scale-out backend."""
    servers = _servers(tmp_path_factory, "lockout", 2 if SCALEOUT else 1)
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory):
    """NUM_PROXIES=1: the client's address is taken from X-Forwarded-For, loopback is not exempt."""
    servers = _servers(tmp_path_factory, "lockout_proxy", 1, CLARION_NUM_PROXIES="1",
                       CLARION_CONNECTION_LIMIT_EXEMPT_IPS="")
    yield servers
    for server in servers:
        server.stop()


def _sign_in(server, username, password, forwarded_for=None):
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(server.url + "/api/auth/token/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


def _fail_ten_times(servers, username, addresses=None):
    """Ten wrong passwords at once, spread over the processes (and addresses): each is a 401,
    and the count across processes is exact."""
    def attempt(i):
        server = servers[i % len(servers)]
        return _sign_in(server, username, f"wrong-{i}", addresses[i] if addresses else None)[0]

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(attempt, range(10))) == [401] * 10
    took = time.monotonic() - started
    assert took < WINDOW, f"10 failed sign-ins took {took:.1f} s, longer than the test's window"


def _assert_locked(status, body, headers):
    assert status == 429, body
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    assert re.fullmatch(r"Too many failed sign-ins for this account; try again in \d+ s\.", body["detail"])
    return retry_after


def test_ten_wrong_passwords_lock_the_account_even_for_the_right_one_from_loopback(behind_loopback):
    servers = behind_loopback
    victim, bystander = "alice", "bob"
    _fail_ten_times(servers, victim)
    for server in servers:  # every process refuses it: the count is shared
        retry_after = _assert_locked(*_sign_in(server, victim, PASSWORD))
    assert _sign_in(servers[-1], bystander, PASSWORD)[0] == 200  # other accounts are unaffected

    log = "".join(server.log() for server in servers)
    lines = [line for line in log.splitlines() if f"sign-in locked for username '{victim}'" in line]
    assert len(lines) == 1, log[-3000:]  # one warning per lockout, not per refused attempt
    assert "from 127.0.0.1" in lines[0] and "WARNING" in lines[0]
    assert "wrong-" not in log and PASSWORD not in log  # never a password

    time.sleep(retry_after + 0.5)
    assert _sign_in(servers[0], victim, PASSWORD)[0] == 200  # the window passed


def test_unknown_usernames_lock_the_same_way_so_a_429_reveals_nobody(behind_loopback):
    servers = behind_loopback
    nobody = f"nobody-{uuid.uuid4().hex[:10]}"
    first = _sign_in(servers[0], nobody, "guess")
    known = _sign_in(servers[0], "dave", "guess")
    assert first[:2] == known[:2] and first[0] == 401  # the same answer for both
    _fail_ten_times(servers, nobody)
    _assert_locked(*_sign_in(servers[0], nobody, "guess"))


def test_a_success_resets_the_count(behind_loopback):
    servers = behind_loopback
    user = "carol"
    for _ in range(2):
        for i in range(9):
            assert _sign_in(servers[i % len(servers)], user, "wrong")[0] == 401
        assert _sign_in(servers[0], user, PASSWORD)[0] == 200


def test_loopback_stays_exempt_from_the_per_address_throttle(behind_loopback):
    """32 wrong sign-ins from loopback within a minute, over 8 accounts: the per-address rate
    (30/minute) does not apply to loopback, and no account reached its own limit."""
    servers = behind_loopback
    users = [f"spread-{uuid.uuid4().hex[:8]}" for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda i: _sign_in(servers[i % len(servers)], users[i % 8], "x")[0], range(32)))
    assert codes == [401] * 32


def test_behind_a_proxy_the_lockout_holds_whatever_address_each_guess_claims(behind_a_proxy):
    [server] = behind_a_proxy
    victim, bystander = "alice", "bob"
    addresses = [f"198.51.100.{i + 1}" for i in range(10)]
    _fail_ten_times([server], victim, addresses)
    _assert_locked(*_sign_in(server, victim, PASSWORD, "198.51.100.200"))
    assert _sign_in(server, bystander, PASSWORD, "198.51.100.201")[0] == 200
    log = server.log()
    assert re.search(rf"sign-in locked for username '{victim}'.*from 198\.51\.100\.\d+", log), log[-2000:]
    # That the lock ends with its window is the loopback test's: the same code, half the wait.
