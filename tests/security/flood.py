"""Flood measurement: does one abusive user slow the others down?

A victim pings over its socket ten times a second (within its own allowance) and records each ping -> pong round trip,
first alone (baseline), then while an attacker floods the same server process from
``attackers`` sockets: each sends frames as fast as it can without reading, is closed with
4029 when its allowance runs out, and reconnects at once; further attacker tasks hold as many
sockets as they can (the per-user limit refuses the rest with 4029). Everything targets a
server on this machine and stops after ``seconds``.

    python -m tests.security.flood --url ws://127.0.0.1:8000 --victim-token A --attacker-token B

prints the figures as JSON; tests/security/test_live.py runs it against a harness server. The
attacker runs in a process of its own (``flood attack``), so that its busy loop does not slow
the victim's client and the figures show the server.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def _victim(url, origin, token, seconds, interval=0.1) -> list[float]:
    rtts = []
    async with connect(f"{url}/ws/notifications/?token={token}", origin=origin, open_timeout=10) as ws:
        await ws.recv()  # snapshot
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await ws.send('{"type":"ping"}')
            while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "pong":
                pass
            rtts.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(interval)
    return rtts


async def _frame_flooder(url, origin, token, deadline, stats):
    while time.monotonic() < deadline:
        try:
            async with connect(f"{url}/ws/notifications/?token={token}", origin=origin, open_timeout=10,
                               max_queue=None) as ws:
                stats["connects"] += 1
                try:
                    while time.monotonic() < deadline:
                        for _ in range(20):
                            await ws.send('{"type":"ping"}')
                        stats["frames_sent"] += 20
                        await asyncio.sleep(0)  # let the client read the server's close
                    stats["survived"] += 1
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                    stats["closes"][str(code)] = stats["closes"].get(str(code), 0) + 1
        except (ConnectionClosed, InvalidStatus, OSError, asyncio.TimeoutError):
            stats["errors"] += 1
            await asyncio.sleep(0.05)


async def _socket_hoarder(url, origin, token, deadline, stats):
    held = []
    try:
        while time.monotonic() < deadline:
            ws = await connect(f"{url}/ws/notifications/?token={token}", origin=origin, open_timeout=10)
            try:
                await asyncio.wait_for(ws.recv(), 5)
                held.append(ws)
                stats["held"] += 1
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                stats["refused"][str(code)] = stats["refused"].get(str(code), 0) + 1
                await asyncio.sleep(0.05)
    finally:
        for ws in held:
            await ws.close()


def _summary(rtts: list[float]) -> dict:
    ordered = sorted(rtts)
    return {"pings": len(rtts), "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2), "max_ms": round(ordered[-1], 2)}


async def attack(url: str, origin: str, token: str, seconds: float, flooders: int, hoarders: int) -> dict:
    flood = {"connects": 0, "frames_sent": 0, "closes": {}, "survived": 0, "errors": 0}
    hoard = {"held": 0, "refused": {}}
    deadline = time.monotonic() + seconds
    tasks = [_frame_flooder(url, origin, token, deadline, flood) for _ in range(flooders)]
    tasks += [_socket_hoarder(url, origin, token, deadline, hoard) for _ in range(hoarders)]
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"frame_flood": flood, "socket_hoarding": hoard}


async def measure(url: str, origin: str, victim_token: str, attacker_token: str, *, seconds: float = 4.0,
                  flooders: int = 8, hoarders: int = 2) -> dict:
    """Baseline, then the same measurement while an attacker process (its own CPU, so that
    the figures are the server's and not this client's) floods."""
    baseline = await _victim(url, origin, victim_token, seconds)
    attacker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.security.flood", "attack", "--url", url, "--origin", origin,
        "--token", attacker_token, "--seconds", str(seconds + 1.5), "--flooders", str(flooders),
        "--hoarders", str(hoarders), stdout=asyncio.subprocess.PIPE)
    await asyncio.sleep(1.0)  # the flood is running
    during = await _victim(url, origin, victim_token, seconds)
    out, _ = await asyncio.wait_for(attacker.communicate(), seconds + 30)
    return {"baseline": _summary(baseline), "during_flood": _summary(during), **json.loads(out),
            "seconds": seconds, "flooders": flooders, "hoarders": hoarders}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=["measure", "attack"], nargs="?", default="measure")
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT (this machine only)")
    parser.add_argument("--origin", help="Origin header (default: the http:// form of --url)")
    parser.add_argument("--victim-token")
    parser.add_argument("--attacker-token")
    parser.add_argument("--token", help="attack: the attacker's access token")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--flooders", type=int, default=8)
    parser.add_argument("--hoarders", type=int, default=2)
    args = parser.parse_args()
    host = args.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("floods target this machine only (127.0.0.1, localhost, ::1)")
    origin = args.origin or args.url.replace("ws://", "http://").replace("wss://", "https://")
    if args.role == "attack":
        result = asyncio.run(attack(args.url, origin, args.token, args.seconds, args.flooders, args.hoarders))
    else:
        result = asyncio.run(measure(args.url, origin, args.victim_token, args.attacker_token, seconds=args.seconds,
                                     flooders=args.flooders, hoarders=args.hoarders))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
