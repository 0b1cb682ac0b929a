"""Markdown tables from a result JSON: medians, and ratios to the raw-websockets floor measured
in the same run (same machine, same N). ``x floor`` is stack / floor: lower is better for
times, CPU and memory; for connections per second higher is better."""

import json
from pathlib import Path

FLOOR = "websockets"


def _ms(v, digits=1):
    return "-" if v is None else f"{v * 1000:.{digits}f}"


def _num(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _ratio(v, floor):
    if v is None or floor in (None, 0):
        return "-"
    return f"{v / floor:.2f}x"


def _get(row, scenario, key):
    sec = row.get(scenario)
    if not isinstance(sec, dict):
        return None
    return sec.get(key)


def _floor_rows(rows):
    return {r["n"]: r for r in rows if r.get("stack") == FLOOR and r.get("n")}


def one_line(name: str, res: dict) -> str:
    """Progress line while the run goes on."""
    if "error" in res:
        return "ERROR " + res["error"]
    if name == "broadcast":
        return (f"last median {_ms(res['last_median_s'])} ms, max {_ms(res['last_max_s'])} ms, first median "
                f"{_ms(res['first_median_s'])} ms, lost {res['lost']}, CPU "
                f"{_num(res['total_cpu_us_per_delivery'])} us/delivery; the first after start-up: last "
                f"{_ms((res.get('warm_up') or {}).get('last_s'))} ms "
                f"({_num(res.get('warm_up_last_vs_median'), '{:.1f}')}x the median)")
    if name == "broadcast-filtered":
        return (f"{res['muted_clients']} muted; last median plain {_ms(res['plain']['last_median_s'])} ms, filtered "
                f"{_ms(res['filtered']['last_median_s'])} ms = {_num(res['filtered_vs_plain_last_median'], '{:.2f}')}x; "
                f"leaked {res['leaked']}, lost {res['lost']}")
    if name == "broadcast-ack":
        return (f"server CPU per broadcast: no ack {_ms(res['cpu_per_bcast_plain_s'])} ms, with acks "
                f"{_ms(res['cpu_per_bcast_acked_s'])} ms = {_num(res['acked_vs_plain_cpu'], '{:.2f}')}x; "
                f"{res['acks_sent']} acks sent, {res['errors_after_connect']} error frames, lost {res['lost']}")
    if name == "one-to-one":
        return f"p50 {_ms(res['p50_s'], 2)} ms, p99 {_ms(res['p99_s'], 2)} ms, recv {res['received']}/{res['sent']}"
    if name == "head-of-line":
        return (f"during broadcast: n={res['during_n']} p99 {_ms(res['during_p99_s'], 2)} ms; all p99 "
                f"{_ms(res['all_p99_s'], 2)} ms, recv {res['received']}/{res['sent']}")
    if name == "bulk":
        return (f"{res['expected']} sent in {res['requests']} requests of {res['size']}, received "
                f"{res['received']}, lost {res['lost']}, dup {res['duplicates']}, last delivery "
                f"{_num(res['last_delivery_s'], '{:.2f}')} s after the first request, loop {res['publish_loop_s']:.2f} s")
    if name == "burst":
        return (f"received {res['received']}/{res['expected']}, out of order {res['order_errors']}, last delivery "
                f"{_num(res['last_delivery_s'], '{:.2f}')} s, loop {res['publish_loop_s']:.2f} s")
    return json.dumps(res)[:200]


def _notes(row) -> str:
    notes = []
    if row.get("error"):
        notes.append("ERROR " + row["error"][:80])
    conn = row.get("connect") or {}
    for err, count in list((conn.get("errors") or {}).items())[:2]:
        notes.append(f"{count}x {err}")
    for scenario in ("broadcast", "one-to-one", "head-of-line", "bulk", "burst"):
        sec = row.get(scenario)
        if isinstance(sec, dict):
            if sec.get("error"):
                notes.append(f"{scenario}: {sec['error'][:80]}")
            for err, count in list((sec.get("publish_errors") or {}).items())[:1]:
                notes.append(f"{scenario} publish: {count}x {err[:60]}")
            if sec.get("timeouts"):
                notes.append(f"{scenario}: {sec['timeouts']} waits timed out")
    for reason, count in (row.get("closed_after_connect") or {}).items():
        notes.append(f"{count} clients dropped ({reason})")
    if row.get("server_log"):
        notes.append(f"{len(row['server_log'])} server log lines")
    return " ".join("; ".join(notes).replace("|", "/").split())


def main_table(rows) -> list[str]:
    floors = _floor_rows(rows)
    out = ["| stack | N | conn ok/fail | connect s (conn/s) | conn/s x floor | bcast last-client median ms | x floor "
           "| max ms | first-client median ms | lost | CPU us/delivery (srv+redis) | x floor | 1:1 p50 ms | 1:1 p99 ms "
           "| 1:1 recv | HOL p99 ms during bcast (n) | RSS idle MB | RSS/conn KB | x floor | note |",
           "|" + "---|" * 20]
    for row in rows:
        if not row.get("n"):
            out.append(f"| {row.get('stack')} | - | " + "- | " * 17 + f"{_notes(row)} |")
            continue
        f = floors.get(row["n"], {})
        c = row.get("connect") or {}
        conn_s = _get(row, "connect", "conn_per_s")
        last = _get(row, "broadcast", "last_median_s")
        cpu = _get(row, "broadcast", "total_cpu_us_per_delivery")
        kb = _get(row, "memory", "kb_per_conn")
        rss_idle = _get(row, "memory", "rss_idle_bytes")
        hol_n = _get(row, "head-of-line", "during_n")
        recv = (f"{_get(row, 'one-to-one', 'received')}/{_get(row, 'one-to-one', 'sent')}"
                if _get(row, "one-to-one", "sent") is not None else "-")
        out.append("| " + " | ".join([
            row["stack"], str(row["n"]),
            f"{c.get('ok', '-')}/{c.get('fail', '-')}",
            f"{_num(c.get('wall_s'), '{:.2f}')} ({_num(conn_s, '{:.0f}')})",
            _ratio(conn_s, _get(f, "connect", "conn_per_s")),
            _ms(last), _ratio(last, _get(f, "broadcast", "last_median_s")),
            _ms(_get(row, "broadcast", "last_max_s")), _ms(_get(row, "broadcast", "first_median_s")),
            _num(_get(row, "broadcast", "lost"), "{}"),
            _num(cpu), _ratio(cpu, _get(f, "broadcast", "total_cpu_us_per_delivery")),
            _ms(_get(row, "one-to-one", "p50_s"), 2), _ms(_get(row, "one-to-one", "p99_s"), 2), recv,
            f"{_ms(_get(row, 'head-of-line', 'during_p99_s'), 2)} ({hol_n})" if hol_n is not None else "-",
            _num(rss_idle / 2**20 if rss_idle else None, "{:.0f}"), _num(kb),
            _ratio(kb, _get(f, "memory", "kb_per_conn")),
            _notes(row),
        ]) + " |")
    return out


def burst_table(rows) -> list[str]:
    burst_rows = [r for r in rows if isinstance(r.get("burst"), dict) and "expected" in r["burst"]]
    if not burst_rows:
        return []
    floors = _floor_rows(rows)
    out = ["| stack | N | publishes | expected | received | lost | loss % | msgs fully delivered | out of order "
           "| publish loop s | last delivery s | x floor | worst latency s |", "|" + "---|" * 13]
    for row in burst_rows:
        b = row["burst"]
        floor_last = _get(floors.get(row["n"], {}), "burst", "last_delivery_s")
        out.append("| " + " | ".join([
            row["stack"], str(b["n_open"]), str(b["publishes"]), str(b["expected"]), str(b["received"]),
            str(b["lost"]), _num(b["loss_pct"], "{:.1f}"), f"{b['fully_delivered']}/{b['publishes']}",
            str(b["order_errors"]), _num(b["publish_loop_s"], "{:.2f}"), _num(b["last_delivery_s"], "{:.2f}"),
            _ratio(b["last_delivery_s"], floor_last), _num(b["worst_latency_s"], "{:.2f}"),
        ]) + " |")
    return out


def hol_table(rows) -> list[str]:
    hol_rows = [r for r in rows if isinstance(r.get("head-of-line"), dict) and "sent" in r["head-of-line"]]
    if not hol_rows:
        return []
    out = ["| stack | N | personal sent/recv | during bcast: n | p50 ms | p99 ms | max ms | all: p50 ms | p99 ms "
           "| bcast last-client median ms |", "|" + "---|" * 10]
    for row in hol_rows:
        h = row["head-of-line"]
        out.append("| " + " | ".join([
            row["stack"], str(row["n"]), f"{h['sent']}/{h['received']}", str(h["during_n"]),
            _ms(h["during_p50_s"], 2), _ms(h["during_p99_s"], 2), _ms(h["during_max_s"], 2),
            _ms(h["all_p50_s"], 2), _ms(h["all_p99_s"], 2), _ms(h["bcast_last_median_s"]),
        ]) + " |")
    return out


def multiproc_table(rows) -> list[str]:
    if not rows:
        return []
    out = ["| stack | procs | N | conn ok/fail | bcast last-client median ms | first-client median ms | lost "
           "| CPU us/delivery (servers+redis) | server CPU s | redis CPU s | every process reached | note |",
           "|" + "---|" * 12]
    for row in rows:
        b = row.get("broadcast") if isinstance(row.get("broadcast"), dict) else {}
        c = row.get("connect") or {}
        per_port = b.get("per_port") or {}
        reached = "-"
        if per_port:
            full = sum(1 for p in per_port.values() if p["open"] and p["received"] >= p["expected"])
            reached = f"{full}/{len(per_port)}"
        elif b.get("deliveries"):
            reached = "1/1"
        out.append("| " + " | ".join([
            row.get("stack", "?"), str(row.get("procs", "-")), str(row.get("n", "-")),
            f"{c.get('ok', '-')}/{c.get('fail', '-')}", _ms(b.get("last_median_s")), _ms(b.get("first_median_s")),
            _num(b.get("lost"), "{}"), _num(b.get("total_cpu_us_per_delivery")),
            _num(b.get("server_cpu_s"), "{:.2f}"), _num(b.get("redis_cpu_s"), "{:.2f}"), reached, _notes(row),
        ]) + " |")
    return out


def cluster_table(rows) -> list[str]:
    """1 Redis against the cluster, per N and processes, with the cluster's ratio to 1 Redis."""
    if not rows:
        return []
    out = ["| stack | procs | N | conn ok/fail | bcast last-client median ms | first-client median ms | lost "
           "| CPU us/delivery (servers+redis) | redis CPU s | 1:1 p50 ms | 1:1 p99 ms | 1:1 recv/sent | note |",
           "|" + "---|" * 13]
    single = {}
    for row in rows:
        b = row.get("broadcast") if isinstance(row.get("broadcast"), dict) else {}
        o = row.get("one-to-one") if isinstance(row.get("one-to-one"), dict) else {}
        c = row.get("connect") or {}
        if row.get("stack") == "clarion-redis":
            single[(row.get("n"), row.get("procs"))] = (b, o)
        out.append("| " + " | ".join([
            row.get("stack", "?"), str(row.get("procs", "-")), str(row.get("n", "-")),
            f"{c.get('ok', '-')}/{c.get('fail', '-')}", _ms(b.get("last_median_s")), _ms(b.get("first_median_s")),
            _num(b.get("lost"), "{}"), _num(b.get("total_cpu_us_per_delivery")), _num(b.get("redis_cpu_s"), "{:.2f}"),
            _ms(o.get("p50_s")), _ms(o.get("p99_s")), f"{o.get('received', '-')}/{o.get('sent', '-')}", _notes(row),
        ]) + " |")
    ratios = []
    for row in rows:
        if row.get("stack") != "clarion-cluster" or (row.get("n"), row.get("procs")) not in single:
            continue
        b, o = row.get("broadcast") or {}, row.get("one-to-one") or {}
        sb, so = single[(row.get("n"), row.get("procs"))]

        def ratio(a, z):
            return f"{a / z:.2f}x" if a and z else "-"

        ratios.append(f"* N={row['n']}, {row['procs']} processes: cluster / 1 Redis = broadcast last-client "
                      f"{ratio(b.get('last_median_s'), sb.get('last_median_s'))}, CPU per delivery "
                      f"{ratio(b.get('total_cpu_us_per_delivery'), sb.get('total_cpu_us_per_delivery'))}, "
                      f"1:1 p50 {ratio(o.get('p50_s'), so.get('p50_s'))}")
    return out + ([""] + ratios if ratios else [])


def create_rate_table(rows) -> list[str]:
    if not rows:
        return []
    out = ["| stack | procs | REST clients | creates/s | server CPU ms/create | p50 ms | p99 ms "
           "| first create ms | later create median ms | first / later | note |", "|" + "---|" * 11]
    for row in rows:
        s = row.get("sustained") or {}
        firsts = row.get("first") or []
        errors = {**s.get("errors", {}), **{k: v for f in firsts for k, v in f.get("errors", {}).items()}}
        note = "; ".join(filter(None, [row.get("error", ""), ", ".join(f"{v}x {k}" for k, v in errors.items())]))
        out.append("| " + " | ".join([
            row.get("stack", "?"), str(row.get("procs", "-")), str(s.get("clients", "-")),
            _num(s.get("creates_per_s"), "{:.0f}"), _num(s.get("server_cpu_ms_per_create"), "{:.2f}"),
            _ms(s.get("p50_s")), _ms(s.get("p99_s")),
            " / ".join(_ms(f.get("first_s"), 0) for f in firsts) or "-",
            " / ".join(_ms(f.get("later_median_s")) for f in firsts) or "-",
            " / ".join(_num(f.get("first_vs_later"), "{:.0f}x") for f in firsts) or "-",
            " ".join(note.replace("|", "/").split()),
        ]) + " |")
    return out


def bulk_table(rows) -> list[str]:
    bulk_rows = [r for r in rows if isinstance(r.get("bulk"), dict)]
    if not bulk_rows:
        return []
    out = ["| stack | N open | requests x entries | sent | received | lost | duplicates | request p50 ms "
           "| send loop s | last delivery s | latency p50 ms | p99 ms | server CPU us/row | note |", "|" + "---|" * 14]
    for row in bulk_rows:
        b = row["bulk"]
        if "expected" not in b:
            out.append(f"| {row['stack']} | {row.get('n')} | " + "- | " * 11 + f"{_notes(row)} |")
            continue
        out.append("| " + " | ".join([
            row["stack"], str(b["n_open"]), f"{b['requests']} x {b['size']}", str(b["expected"]), str(b["received"]),
            str(b["lost"]), str(b["duplicates"]), _ms(b["request_p50_s"], 0), _num(b["publish_loop_s"], "{:.2f}"),
            _num(b["last_delivery_s"], "{:.2f}"), _ms(b["latency_p50_s"], 0), _ms(b["latency_p99_s"], 0),
            _num(b["server_cpu_us_per_row"], "{:.0f}"), _notes(row),
        ]) + " |")
    return out


def bulk_rate_table(rows) -> list[str]:
    if not rows:
        return []
    out = ["| stack | procs | entries/request | REST clients | requests | rows/s answered | rows/s until quiet "
           "| server CPU us/row | request p50 ms | max ms | first request ms | note |", "|" + "---|" * 12]
    for row in rows:
        phases = [row[k] for k in ("sequential", "concurrent") if isinstance(row.get(k), dict)]
        if not phases:
            out.append(f"| {row.get('stack', '?')} | 1 | {row.get('size', '-')} | " + "- | " * 8
                       + " ".join(str(row.get("error", "")).replace("|", "/").split()) + " |")
        for s in phases:
            errors = {**s.get("errors", {}), **row.get("first_errors", {})}
            note = "; ".join(filter(None, [row.get("error", ""), ", ".join(f"{v}x {k}" for k, v in errors.items())]))
            out.append("| " + " | ".join([
                row.get("stack", "?"), str(row.get("procs", 1)), str(row.get("size", "-")), str(s["clients"]),
                f"{s['ok']}/{s['requests']}", _num(s.get("rows_per_s"), "{:.0f}"),
                _num(s.get("rows_per_s_settled"), "{:.0f}"),
                _num(s.get("server_cpu_us_per_row"), "{:.0f}"), _ms(s.get("p50_s"), 0), _ms(s.get("max_s"), 0),
                _ms(row.get("first_s"), 0), " ".join(note.replace("|", "/").split()),
            ]) + " |")
    return out


def ack_table(rows) -> list[str]:
    ack_rows = [r for r in rows if isinstance(r.get("broadcast-ack"), dict) and "plain" in r["broadcast-ack"]]
    if not ack_rows:
        return []
    out = ["| stack | N | broadcasts each | pause s | ack sent after s | server CPU ms/broadcast, no ack (median) | with acks (median) "
           "| with / without | acks sent | receipt rows written (readers) | error frames "
           "| last-client median ms, no ack / acks | lost |",
           "|" + "---|" * 13]
    for row in ack_rows:
        b = row["broadcast-ack"]
        out.append("| " + " | ".join([
            row["stack"], str(row["n"]), str(b["plain"]["published"]), _num(b["pause_s"]), f"{_num(b.get('ack_delay_s', 0.0))} + 0..{_num(b.get('ack_jitter_s', 0.0))}",
            _ms(b["cpu_per_bcast_plain_s"]), _ms(b["cpu_per_bcast_acked_s"]), _num(b["acked_vs_plain_cpu"], "{:.2f}"),
            str(b["acks_sent"]),
            (f"{b['receipt_rows'].get('rows')} ({b['receipt_rows'].get('readers')})"
             if isinstance(b.get("receipt_rows"), dict) and "rows" in b["receipt_rows"] else "-"),
            str(b["errors_after_connect"]),
            f"{_ms(b['plain']['last_median_s'])} / {_ms(b['acked']['last_median_s'])}", str(b["lost"]),
        ]) + " |")
    return out


def render(result: dict) -> str:
    m = result.get("machine", {})
    mem = m.get("mem_bytes")
    pk = m.get("packages", {})
    lines = [
        f"Run {result.get('date')} at commit {result.get('commit_short')}{' (dirty tree)' if result.get('dirty') else ''}"
        f"{' -- QUICK smoke run: figures are not comparable' if result.get('quick') else ''}; "
        f"{_num(result.get('duration_s'), '{:.0f}')} s in all.",
        f"Machine: {m.get('nproc')} cores, {m.get('cpu_model')}, {_num(mem / 2**30 if mem else None, '{:.0f}')} GiB, "
        f"kernel {m.get('kernel')}, Python {m.get('python')}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m.get('loadavg_at_start', []))}; pinning: {m.get('pinning')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in pk.items() if v)
        + (f", Redis server {result['redis'].get('version')}" if result.get("redis") else "") + ".",
        *([f"Clarion stacks ran from {result['args']['clarion_src']} (--clarion-src)."]
          if result.get("args", {}).get("clarion_src") else []),
        "",
        "Ratios (x floor) divide by the raw-websockets floor at the same N in this run. CPU per delivery "
        "includes Redis when the stack uses it. Latencies are publish -> client receive.",
        "",
        *(main_table(result["rows"]) if result.get("rows") else ["(no per-N rows in this run)"]),
    ]
    burst = burst_table(result.get("rows", []))
    if burst:
        lines += ["", "Burst (back-to-back broadcasts to all):", "", *burst]
    bulk_rows = bulk_table(result.get("rows", []))
    if bulk_rows:
        lines += ["", "Bulk delivery (each connected user gets one personal notification; the requests go to "
                      "POST /api/notifications/bulk/ back to back):", "", *bulk_rows]
    hol = hol_table(result.get("rows", []))
    if hol:
        lines += ["", "Head-of-line: personal notifications sent while a broadcast to all was in flight:", "", *hol]
    ack = ack_table(result.get("rows", []))
    if ack:
        lines += ["", "Broadcast with delivery receipts (issue 14): server CPU per broadcast, from its publish to the "
                      "end of its pause (the acks and the once-a-second receipts flush included):", "", *ack]
    mp = multiproc_table(result.get("multiproc", []))
    if mp:
        lines += ["", "Multi-process (clarion-redis; processes spread over both cores, so they share core 1 "
                      "with the load generator and the publisher):", "", *mp]
    cl = cluster_table(result.get("cluster", []))
    if cl:
        lines += ["", "One Redis against a Redis Cluster of 3 masters and 3 replicas (issue 15; every Redis node "
                      "pinned with the first server process to core 0; processes spread over both cores):", "", *cl]
    rate = create_rate_table(result.get("create_rate", []))
    if rate:
        lines += ["", "Create rate (REST personal creates, no socket open; the clients run in the driver):", "", *rate]
    brate = bulk_rate_table(result.get("bulk_rate", []))
    if brate:
        lines += ["", "Bulk create rate (POST /api/notifications/bulk/, one entry per user, no socket open; "
                      "the clients run in the driver):", "", *brate]
    logs = [(r, r["server_log"]) for r in result.get("rows", []) + result.get("multiproc", []) + result.get("cluster", [])
            if r.get("server_log")]
    if logs:
        lines += ["", "Server log lines (warnings and errors, last ones per run):", ""]
        for row, log in logs:
            lines.append(f"* {row['stack']} N={row.get('n')} procs={row.get('procs', 1)}: {len(log)} lines, e.g.")
            lines += [f"    {line[:200]}" for line in log[:4]]
    return "\n".join(lines)


def main_report(path: str) -> int:
    result = json.loads(Path(path).read_text())
    print(render(result))
    return 0
