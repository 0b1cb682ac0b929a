"""The cluster view: one ``health`` snapshot from the live records of every process, and the
cluster gauges served at /metrics. Pure functions of the records."""

import statistics

from clarion.observability import metrics
from clarion.observability.sampling import DOWN, NOT_USED, RATE_KINDS, TTL_INTERVALS, UNKNOWN, UP, iso


def _dependency(states: list[dict]) -> dict:
    """One dependency (database, redis) over all processes."""
    if states and all(s["status"] == NOT_USED for s in states):
        return {"status": NOT_USED, "rtt_max": None, "processes_down": 0}
    checked = [s for s in states if s["status"] in (UP, DOWN)]
    down = sum(1 for s in checked if s["status"] == DOWN)
    rtts = [s["rtt"] for s in checked if s["status"] == UP and s.get("rtt") is not None]
    if not checked:
        status = UNKNOWN
    elif down == 0:
        status = UP
    elif down == len(checked):
        status = DOWN
    else:
        status = "degraded"
    return {"status": status, "rtt_max": max(rtts) if rtts else None, "processes_down": down}


def aggregate(records: list[dict], *, every: float, now: float, partial: bool = False) -> dict:
    """The ``data`` of a ``health`` frame from the live records of every process."""
    processes = sorted(records, key=lambda r: (r["host"], r["pid"], r["id"]))
    connections: dict[str, int] = {}
    for record in processes:
        for endpoint, count in record["connections"].items():
            connections[endpoint] = connections.get(endpoint, 0) + count
    latencies = [r["delivery_latency"] for r in processes if r.get("delivery_latency") is not None]
    parked = [r["parked_rows"] for r in processes if r.get("parked_rows") is not None]
    return {
        "at": iso(now),
        "interval": every,
        "expiry": every * TTL_INTERVALS,
        "partial": partial,
        "process_count": len(processes),
        "connections": dict(sorted(connections.items())),
        "connections_total": sum(connections.values()),
        "rates": {kind: round(sum(r["rates"][kind] for r in processes), 3) for kind in RATE_KINDS},
        "delivery_latency": {
            "max": max(latencies) if latencies else None,
            "median": statistics.median(latencies) if latencies else None,
            "processes_measured": len(latencies),
        },
        "database": _dependency([r["database"] for r in processes]),
        "redis": _dependency([r["redis"] for r in processes]),
        "warnings_last_minute": sum(r["warnings_last_minute"] for r in processes),
        "errors_last_minute": sum(r["errors_last_minute"] for r in processes),
        # Every process counts the same table: the freshest count is the largest one seen.
        "parked_rows": max(parked) if parked else None,
        "processes": processes,
    }


def update_gauges(snapshot: dict) -> None:
    """Mirror a snapshot in the cluster gauges that /metrics serves."""
    metrics.CLUSTER_PROCESSES.set(snapshot["process_count"])
    gauges = (metrics.CLUSTER_CONNECTIONS, metrics.CLUSTER_RATES, metrics.DELIVERY_LATENCY, metrics.CLUSTER_LOG_RECORDS,
              metrics.DB_UP, metrics.DB_RTT, metrics.REDIS_UP, metrics.REDIS_RTT, metrics.PROCESS_CPU,
              metrics.PROCESS_RSS)
    for gauge in gauges:
        gauge.clear()  # processes and endpoints that are gone must not linger
    for endpoint, count in snapshot["connections"].items():
        metrics.CLUSTER_CONNECTIONS.labels(endpoint=endpoint).set(count)
    for kind, rate in snapshot["rates"].items():
        metrics.CLUSTER_RATES.labels(kind=kind).set(rate)
    for stat in ("max", "median"):
        if snapshot["delivery_latency"][stat] is not None:
            metrics.DELIVERY_LATENCY.labels(stat=stat).set(snapshot["delivery_latency"][stat])
    metrics.CLUSTER_LOG_RECORDS.labels(level="warning").set(snapshot["warnings_last_minute"])
    metrics.CLUSTER_LOG_RECORDS.labels(level="error").set(snapshot["errors_last_minute"])
    if snapshot.get("parked_rows") is not None:
        metrics.PARKED_ROWS.set(snapshot["parked_rows"])
    for record in snapshot["processes"]:
        process = f"{record['host']}:{record['pid']}"
        for state, up_gauge, rtt_gauge in ((record["database"], metrics.DB_UP, metrics.DB_RTT),
                                           (record["redis"], metrics.REDIS_UP, metrics.REDIS_RTT)):
            if state["status"] in (UP, DOWN):
                up_gauge.labels(process=process).set(1 if state["status"] == UP else 0)
            if state.get("rtt") is not None:
                rtt_gauge.labels(process=process).set(state["rtt"])
        metrics.PROCESS_CPU.labels(process=process).set(record["cpu_percent"])
        metrics.PROCESS_RSS.labels(process=process).set(record["rss_bytes"])


# -- the per-process monitor ---------------------------------------------------------------
