"""The scenarios of the anchor method, each bounded in count and time.

A ``Session`` is one started stack (server processes, publisher, two load-generator workers and
one for the head-of-line probes)
at one N; the scenario functions take it and return plain dicts for the JSON result.
Latencies are in seconds in the JSON; the report converts.
"""

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass

from bench.proc import cpu_seconds, rss_bytes

POLL = 0.02  # how often the driver asks the workers for progress while it waits


@dataclass
class Params:
    bcasts: int = 20  # broadcasts after the warm-up
    bcast_timeout: float = 30.0  # per broadcast: wait until every open client has it
    bcast_pause: float = 0.5
    burst: int = 200
    burst_stall: float = 8.0  # burst: stop waiting after this long without progress...
    burst_max: float = 180.0  # ...or after this long in all
    unicasts: int = 200
    unicast_rate: float = 100.0
    hol_rounds: int = 5
    hol_per_round: int = 100  # personal notifications per round, at unicast_rate
    seed: int = 1234
    create_clients: int = 4  # create-rate: concurrent REST clients...
    create_seconds: float = 20.0  # ...posting back to back for this long
    create_sequential: int = 20  # creates after the first, one at a time (the "later" latency)
    bulk_size: int = 1000  # bulk: entries per request (the endpoint's maximum)...
    bulk_requests: int = 20  # ...requests per rate phase (one client, then bulk_clients at once)
    bulk_clients: int = 2
    bulk_delivery_requests: int = 10  # bulk delivery: every connected user's one, in this many requests
    ack_pause: float = 2.0  # broadcast-ack: pause after each broadcast (acks at most once a second per
    # socket; the receipts are written once a second, so each broadcast's window holds its flush)
    ack_jitter: float = 0.0  # broadcast-ack: each client acks after ack_delay + a random 0..ack_jitter s
    ack_delay: float = 0.0  # (both 0: at once, as the JS client does)


def probe_count(n: int) -> int:
    """Clients kept apart for the head-of-line probes: 100 at N = 1,000 and above."""
    return max(1, min(100, n // 10))


def percentile(values, q: float):
    """Linear interpolation between closest ranks (numpy's default); None on no data."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values):
    return statistics.median(values) if values else None


class Session:
    def __init__(self, stack, n: int, workers, publisher, params: Params):
        self.stack = stack
        self.n = n
        self.workers = workers  # the two load workers, then the probes' worker
        # The last clients are the head-of-line probes, alone in their own process.
        self.probes = range(n - probe_count(n), n)
        self.publisher = publisher
        self.p = params
        self.server_ps = [child.ps for child in stack.servers]
        self.redis_ps = stack.redis.processes() if stack.uses_redis else []
        self.loadgen_ps = [w.ps for w in workers]

    # -- measurements -----------------------------------------------------------------

    def cpu(self) -> dict:
        return {"server": cpu_seconds(self.server_ps), "redis": cpu_seconds(self.redis_ps),
                "loadgen": cpu_seconds(self.loadgen_ps)}

    def rss(self) -> dict:
        return {"server": rss_bytes(self.server_ps), "redis": rss_bytes(self.redis_ps)}

    async def stats(self, ph: str, seq=None, per_port=False) -> dict:
        """Every worker's summary of a phase, merged."""
        cmd = {"op": "stats", "ph": ph, "per_port": per_port}
        if seq is not None:
            cmd["seq"] = seq
        replies = await asyncio.gather(*(w.call(cmd, timeout=30) for w in self.workers))
        merged = {"open": 0, "total": 0, "order": 0, "dup": 0, "acks_sent": 0, "errors_after_connect": 0,
                  "msgs": {}, "ports": Counter(), "open_ports": Counter(), "closed": Counter()}
        for r in replies:
            for key in ("open", "total", "order", "dup", "acks_sent", "errors_after_connect"):
                merged[key] += r.get(key, 0)
            merged["ports"].update(r["ports"])
            merged["open_ports"].update(r.get("open_ports", {}))
            merged["closed"].update(r["closed"])
            for s, (count, first, last) in r["msgs"].items():
                m = merged["msgs"].get(int(s))
                if m is None:
                    merged["msgs"][int(s)] = [count, first, last]
                elif count:
                    m[1] = first if m[1] is None else min(m[1], first)
                    m[2] = last if m[2] is None else max(m[2], last)
                    m[0] += count
        return merged

    async def publish(self, cmd: dict, timeout: float = 120.0) -> dict:
        reply = await self.publisher.call(cmd, timeout=timeout)
        if set(reply) == {"error"}:  # the command itself failed (a publish failure has more keys)
            raise RuntimeError(f"publisher: {reply['error']}")
        return reply

    async def wait_seq(self, ph: str, seq: int, expected: int, timeout: float) -> bool:
        """Until every client that was open at publish time has the message (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            st = await self.stats(ph, seq)
            count = st["msgs"].get(seq, [0])[0]
            if count >= min(expected, st["open"]) and st["open"] > 0:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL)

    async def wait_total(self, ph: str, expected: int, stall: float, limit: float) -> float:
        """Until ``expected`` messages of a phase arrived, or none came for ``stall`` s."""
        started = last_change = time.monotonic()
        last_total = -1
        while True:
            st = await self.stats(ph)
            now = time.monotonic()
            if st["total"] != last_total:
                last_total, last_change = st["total"], now
            if st["total"] >= expected or now - last_change > stall or now - started > limit:
                return now - started
            await asyncio.sleep(0.1)


# -- scenarios ---------------------------------------------------------------------------

async def connect(s: Session, clients: list, inflight: int = 100, timeout: float = 30.0,
                  phase_timeout: float = 600.0, sources=None) -> dict:
    """Both load workers open their half at once, 100 connects in flight each; the probes' worker
    opens the probes' sockets meanwhile."""
    load, probes = clients[:s.probes.start], clients[s.probes.start:]
    halves = [load[0::2], load[1::2], probes]
    origin = s.stack.origin
    cmds = [{"op": "connect", "kind": s.stack.kind, "clients": half, "origin": origin, "inflight": inflight,
             "timeout": timeout, "phase_timeout": phase_timeout, "sources": sources} for half in halves]
    cpu0 = s.cpu()
    replies = await asyncio.gather(*(w.call(c, timeout=phase_timeout + 60) for w, c in zip(s.workers, cmds)))
    cpu1 = s.cpu()
    ok = sum(r["ok"] for r in replies)
    fail = sum(r["fail"] for r in replies)
    wall = max(r["t1"] for r in replies) - min(r["t0"] for r in replies)
    errors = Counter()
    for r in replies:
        errors.update(r["errors"])
    return {"ok": ok, "fail": fail, "wall_s": wall, "conn_per_s": ok / wall if wall > 0 else None,
            "errors": dict(errors.most_common(10)),
            "server_cpu_us_per_conn": (cpu1["server"] - cpu0["server"]) / ok * 1e6 if ok else None}


async def broadcast(s: Session, ph: str = "bcast", count: int | None = None, per_port: bool = False,
                    topic: str = "", muted: int = 0, pause: float | None = None) -> dict:
    """1 warm-up + ``count`` publishes to all; each waited for (30 s max), then a 0.5 s pause
    (``pause``). ``topic``: the publishes carry it; ``muted``: how many open clients muted it
    (they are expected to receive nothing)."""
    count = s.p.bcasts if count is None else count
    pause = s.p.bcast_pause if pause is None else pause
    warm = await s.publish({"op": "bcast", "ph": ph + "-warm", "seq": 0, "topic": topic})
    if warm.get("error"):
        raise RuntimeError(f"warm-up publish failed: {warm['error']}")
    await s.wait_seq(ph + "-warm", 0, (await s.stats(ph + "-warm"))["open"] - muted, s.p.bcast_timeout)
    # The warm-up is the first notification the server(s) sent since start-up, with every socket
    # open: what "the first create after start-up" costs at N (issue 11), against the later ones.
    warm_msg = (await s.stats(ph + "-warm"))["msgs"].get(0) or [0, None, None]
    await asyncio.sleep(pause)

    expected, errors, timeouts = {}, Counter(), 0
    per_bcast_cpu = []  # server CPU from just before each publish to the end of its pause
    cpu0 = s.cpu()
    for seq in range(1, count + 1):
        open_now = (await s.stats(ph, seq))["open"] - muted
        before = s.cpu()["server"]
        reply = await s.publish({"op": "bcast", "ph": ph, "seq": seq, "topic": topic})
        if reply.get("error"):
            errors[reply["error"]] += 1
            continue
        expected[seq] = open_now
        if not await s.wait_seq(ph, seq, open_now, s.p.bcast_timeout):
            timeouts += 1
        await asyncio.sleep(pause)
        per_bcast_cpu.append(s.cpu()["server"] - before)
    cpu1 = s.cpu()
    st = await s.stats(ph, per_port=per_port)

    lasts = [st["msgs"][q][2] for q in expected if st["msgs"].get(q, [0])[0]]
    firsts = [st["msgs"][q][1] for q in expected if st["msgs"].get(q, [0])[0]]
    deliveries = sum(st["msgs"].get(q, [0])[0] for q in expected)
    lost = sum(expected.values()) - deliveries
    server_cpu = cpu1["server"] - cpu0["server"]
    redis_cpu = cpu1["redis"] - cpu0["redis"]
    result = {
        "publishes": count, "published": len(expected), "publish_errors": dict(errors), "timeouts": timeouts,
        "last_median_s": median(lasts), "last_max_s": max(lasts) if lasts else None,
        "first_median_s": median(firsts), "lost": lost, "deliveries": deliveries,
        "server_cpu_s": server_cpu, "redis_cpu_s": redis_cpu, "loadgen_cpu_s": cpu1["loadgen"] - cpu0["loadgen"],
        "server_cpu_per_bcast_s": per_bcast_cpu, "server_cpu_per_bcast_median_s": median(per_bcast_cpu),
        "pause_s": pause, "acks_sent": st["acks_sent"], "errors_after_connect": st["errors_after_connect"],
        "server_cpu_us_per_delivery": server_cpu / deliveries * 1e6 if deliveries else None,
        "total_cpu_us_per_delivery": (server_cpu + redis_cpu) / deliveries * 1e6 if deliveries else None,
        "order_errors": st["order"], "duplicates": st["dup"],
        "per_seq": {q: st["msgs"].get(q) for q in expected},
        "warm_up": {"received": warm_msg[0], "first_s": warm_msg[1], "last_s": warm_msg[2]},
        "warm_up_last_vs_median": (warm_msg[2] / median(lasts)) if warm_msg[2] and lasts else None,
    }
    if per_port:
        # does the broadcast reach clients on every process? expected vs received per port
        result["per_port"] = {port: {"open": st["open_ports"].get(port, 0),
                                     "received": st["ports"].get(port, 0),
                                     "expected": st["open_ports"].get(port, 0) * len(expected)}
                              for port in sorted(set(st["open_ports"]) | set(st["ports"]))}
    return result


async def broadcast_filtered(s: Session) -> dict:
    """Issue 13: a broadcast where 10 % of the users muted its topic, against the same broadcast
    without a topic, in the same run. Every tenth client's user mutes ``bench:muted`` through the
    REST API while connected (the live path: their sockets get the new filter by a control
    event); then ``bcasts`` plain broadcasts and ``bcasts`` with the muted topic. A delivery to
    a muted client shows as ``leaked`` (deliveries beyond the expected 90 %)."""
    muted_indices = [i for i in range(s.n) if i % 10 == 0]
    reply = await s.publish({"op": "mute", "indices": muted_indices, "topic": "bench:muted"},
                            timeout=max(60.0, len(muted_indices) / 20))
    if "error" in reply and reply["error"]:
        raise RuntimeError(f"mute failed: {reply['error']}")
    await asyncio.sleep(1.0)  # the control events reach the sockets
    plain = await broadcast(s, ph="bcf-plain")
    filtered = await broadcast(s, ph="bcf-muted", topic="bench:muted", muted=len(muted_indices))
    ratio = (filtered["last_median_s"] / plain["last_median_s"]
             if filtered["last_median_s"] and plain["last_median_s"] else None)
    # broadcast() counts "lost" against the open clients less the muted ones: a negative
    # figure means muted clients received it
    return {"muted_clients": len(muted_indices), "mute_s": reply.get("dur"), "plain": plain, "filtered": filtered,
            "filtered_vs_plain_last_median": ratio, "leaked": max(0, -filtered["lost"]),
            "lost": max(0, filtered["lost"]) + plain["lost"]}


async def set_ack(s: Session, on: bool) -> None:
    await asyncio.gather(*(w.call({"op": "ack", "on": on, "jitter": s.p.ack_jitter, "delay": s.p.ack_delay})
                           for w in s.workers))


def receipt_rows(stack) -> dict:
    """Delivered receipts in the stack's database: (rows, distinct readers), to show the acks
    were written, not only sent."""
    sql = "SELECT count(*), count(DISTINCT user_id) FROM clarion_receipt WHERE kind = 'delivered'"
    if getattr(stack, "run_db", None):  # clarion-redis: its PostgreSQL database
        import psycopg

        with psycopg.connect(stack._db_url(stack.run_db), connect_timeout=10) as conn:
            rows, readers = conn.execute(sql).fetchone()
    else:
        import sqlite3

        conn = sqlite3.connect(f"file:{stack.data_dir / 'clarion.sqlite3'}?mode=ro", uri=True, timeout=10)
        try:
            rows, readers = conn.execute(sql).fetchone()
        finally:
            conn.close()
    return {"rows": rows, "readers": readers}


async def broadcast_ack(s: Session) -> dict:
    """Issue 14: what delivery receipts cost a broadcast. ``bcasts`` broadcasts whose clients do
    not acknowledge, then ``bcasts`` whose clients each answer every notification with an
    ``ack`` of its cursor (once per socket per broadcast: within the protocol's once a second,
    as broadcasts are ``ack_pause`` s apart). Server CPU is read per broadcast from just before
    its publish to the end of its pause, so the pause holds the acks and the once-a-second
    receipts flush (one bulk insert per process). *vs no ack* = median CPU per broadcast with
    acks / without. ``ack_delay`` + ``ack_jitter`` (``--ack-delay``, ``--ack-jitter``): each
    client waits ack_delay + a random 0..ack_jitter s before its ack, so the acks do not meet the
    broadcast's own writes."""
    pause = max(s.p.bcast_pause, s.p.ack_pause)
    plain = await broadcast(s, ph="bca-plain", pause=pause)
    await set_ack(s, True)
    try:
        acked = await broadcast(s, ph="bca-ack", pause=pause)
    finally:
        await set_ack(s, False)
    a, p = acked["server_cpu_per_bcast_median_s"], plain["server_cpu_per_bcast_median_s"]
    try:
        receipts = await asyncio.to_thread(receipt_rows, s.stack)
    except Exception as exc:  # a count for the record, not a measurement
        receipts = {"error": f"{type(exc).__name__}: {exc}"}
    return {"pause_s": pause, "ack_jitter_s": s.p.ack_jitter, "ack_delay_s": s.p.ack_delay, "plain": plain, "acked": acked, "receipt_rows": receipts,
            "cpu_per_bcast_plain_s": p, "cpu_per_bcast_acked_s": a,
            "acked_vs_plain_cpu": a / p if a and p else None,
            "acks_sent": acked["acks_sent"] - plain["acks_sent"],
            "errors_after_connect": acked["errors_after_connect"],
            "lost": plain["lost"] + acked["lost"]}


async def one_to_one(s: Session) -> dict:
    """Personal notifications at 100/s to random clients (fixed seed); publish -> receive."""
    targets = random.Random(s.p.seed).choices(range(s.n), k=s.p.unicasts)
    cpu0, t0 = s.cpu(), time.monotonic()
    reply = await s.publish({"op": "unicast", "ph": "1to1", "seq0": 1, "targets": targets,
                             "rate": s.p.unicast_rate}, timeout=s.p.unicasts / s.p.unicast_rate + 120)
    if "sent" not in reply:
        raise RuntimeError(f"publisher: {reply}")
    sent = reply["sent"]
    await s.wait_total("1to1", len(sent), stall=10.0, limit=60.0)
    cpu1, t1 = s.cpu(), time.monotonic()
    st = await s.stats("1to1")
    lats = [st["msgs"][q][1] for q, _ in sent if st["msgs"].get(q, [0])[0]]
    return {"sent": len(sent), "received": len(lats), "publish_errors": reply["errors"],
            "p50_s": percentile(lats, 0.5), "p99_s": percentile(lats, 0.99), "max_s": max(lats) if lats else None,
            "publish_loop_s": reply["dur"],
            # server CPU over the phase, per message and as a share of one core: near 1 core per
            # process, the server cannot keep up with the offered rate and a queue builds
            "server_cpu_ms_per_message": (cpu1["server"] - cpu0["server"]) / len(sent) * 1e3 if sent else None,
            "server_cores_busy": (cpu1["server"] - cpu0["server"]) / (t1 - t0),
            # in send order: latencies that grow along the run mean the server fell behind the
            # offered 100/s (docs/benchmarks.md, "Personal latency at 10,000 sockets")
            "latencies_in_send_order_s": lats}


async def head_of_line(s: Session) -> dict:
    """Personal notifications while a broadcast to everyone is in flight.

    Each round publishes one broadcast and, right behind it, personal notifications at
    100/s for ``hol_per_round`` messages. A personal notification counts as "during the
    broadcast" when it was sent before that broadcast reached its last client.
    """
    rng = random.Random(s.p.seed + 1)
    rounds, sent_all, b_times, errors = s.p.hol_rounds, [], {}, Counter()
    seq0 = 1
    for r in range(1, rounds + 1):
        targets = rng.choices(s.probes, k=s.p.hol_per_round)  # in the probes' own process
        open_now = (await s.stats("hol-b", r))["open"]
        reply = await s.publish({"op": "hol", "ph_b": "hol-b", "seq_b": r, "ph_u": "hol-u", "seq0": seq0,
                                 "targets": targets, "rate": s.p.unicast_rate},
                                timeout=len(targets) / s.p.unicast_rate + 120)
        if "sent" not in reply:
            raise RuntimeError(f"publisher: {reply}")
        seq0 += len(targets)
        errors.update(reply["errors"])
        if reply.get("b_error"):
            errors["broadcast: " + reply["b_error"]] += 1
        else:
            b_times[r] = reply["t_b"]
            await s.wait_seq("hol-b", r, open_now, s.p.bcast_timeout)
        for q, t in reply["sent"]:
            sent_all.append((q, t, r))
        await s.wait_total("hol-u", len(sent_all), stall=10.0, limit=60.0)
        await asyncio.sleep(s.p.bcast_pause)
    bst = await s.stats("hol-b")
    ust = await s.stats("hol-u")
    during, other = [], []
    for q, t, r in sent_all:
        rec = ust["msgs"].get(q)
        if not rec or not rec[0]:
            continue
        b = bst["msgs"].get(r)
        in_flight = r in b_times and b and b[0] and t <= b_times[r] + b[2]
        (during if in_flight else other).append(rec[1])
    b_lasts = [bst["msgs"][r][2] for r in b_times if bst["msgs"].get(r, [0])[0]]
    return {"rounds": rounds, "sent": len(sent_all), "received": len(during) + len(other),
            "during_n": len(during), "during_p50_s": percentile(during, 0.5),
            "during_p99_s": percentile(during, 0.99), "during_max_s": max(during) if during else None,
            "all_p50_s": percentile(during + other, 0.5), "all_p99_s": percentile(during + other, 0.99),
            "bcast_last_median_s": median(b_lasts), "publish_errors": dict(errors),
            "probe_clients": len(s.probes), "probes_in_own_process": True}


async def burst(s: Session) -> dict:
    """200 publishes back to back (each awaited), then wait for all, 8 s stall / 180 s max."""
    count = s.p.burst
    open_now = (await s.stats("burst"))["open"]
    expected = open_now * count
    cpu0 = s.cpu()
    reply = await s.publish({"op": "burst", "ph": "burst", "count": count}, timeout=400)
    if "ts" not in reply:
        raise RuntimeError(f"publisher: {reply}")
    waited = await s.wait_total("burst", expected, stall=s.p.burst_stall, limit=s.p.burst_max)
    cpu1 = s.cpu()
    st = await s.stats("burst")
    ts = dict((q, t) for q, t in reply["ts"])
    received = st["total"]
    fully = sum(1 for q in ts if st["msgs"].get(q, [0])[0] >= open_now)
    last_at = [ts[q] + st["msgs"][q][2] for q in ts if st["msgs"].get(q, [0])[0]]
    start = min(ts.values()) if ts else None
    return {"n_open": open_now, "publishes": count, "expected": expected, "received": received,
            "lost": expected - received, "loss_pct": 100.0 * (expected - received) / expected if expected else None,
            "fully_delivered": fully, "order_errors": st["order"], "duplicates": st["dup"],
            "publish_loop_s": reply["loop_s"], "publish_errors": reply["errors"],
            "last_delivery_s": max(last_at) - start if last_at else None,
            "worst_latency_s": max((st["msgs"][q][2] for q in ts if st["msgs"].get(q, [0])[0]), default=None),
            "waited_s": waited,
            "server_cpu_s": cpu1["server"] - cpu0["server"], "redis_cpu_s": cpu1["redis"] - cpu0["redis"]}
