"""Prometheus metrics (prometheus-client); exposed at /metrics by the standalone server."""

from prometheus_client import Counter, Gauge

PUBLISHED = Counter("clarion_published_events_total", "Events pushed to the channel layer", ["event"])
PUBLISH_FAILURES = Counter(
    "clarion_publish_failures_total", "Pushes that failed or timed out (the database still has them)", ["stage"]
)
CONNECTIONS = Gauge("clarion_open_connections", "Open WebSocket connections", ["endpoint"])
FRAMES_IN = Counter("clarion_frames_in_total", "Frames received from clients", ["endpoint"])
FRAMES_OUT = Counter("clarion_frames_out_total", "Frames sent to clients", ["endpoint"])
REFUSED = Counter("clarion_refused_connections_total", "Sockets closed at connect", ["endpoint", "code"])
PROTOCOL_ERRORS = Counter("clarion_protocol_errors_total", "Error frames sent", ["endpoint", "code"])
DELIVERIES = Counter("clarion_deliveries_total", "Frames handed to local sockets by the fan-out hub")
SLOW_CONSUMERS = Counter("clarion_slow_consumers_total", "Sockets cut off because their client stopped reading")

# Cluster view, from the latest system-health snapshot (clarion.realtime.health_monitor): every
# process serves the same figures for all live processes, so scrape one process, or take max().
CLUSTER_PROCESSES = Gauge("clarion_cluster_processes", "Server processes reporting health")
CLUSTER_CONNECTIONS = Gauge("clarion_cluster_connections", "Open WebSocket connections on all processes", ["endpoint"])
CLUSTER_RATES = Gauge(
    "clarion_cluster_messages_per_second", "Frames in, frames out and hub deliveries per second, all processes", ["kind"]
)
DELIVERY_LATENCY = Gauge(
    "clarion_delivery_latency_seconds", "Publish-to-deliver time of the health probe through the broker", ["stat"]
)
CLUSTER_LOG_RECORDS = Gauge(
    "clarion_cluster_log_records_last_minute", "WARNING and ERROR+ records of the clarion loggers", ["level"]
)
DB_UP = Gauge("clarion_db_up", "1 when the process's last SELECT 1 answered in time, else 0", ["process"])
DB_RTT = Gauge("clarion_db_rtt_seconds", "Round trip of the process's last SELECT 1", ["process"])
REDIS_UP = Gauge("clarion_redis_up", "1 when the process's last Redis PING answered in time (scale-out)", ["process"])
REDIS_RTT = Gauge("clarion_redis_rtt_seconds", "Round trip of the process's last Redis PING", ["process"])
PROCESS_CPU = Gauge("clarion_process_cpu_percent", "CPU time over wall time, percent of one core", ["process"])
PROCESS_RSS = Gauge("clarion_process_rss_bytes", "Resident memory of the process", ["process"])
PARKED = Counter(
    "clarion_parked_entries_total",
    "Log rows set aside because they can never be sequenced or pushed (see `clarion doctor`)", ["log", "stage"]
)
SNAPSHOT_SKIPPED = Counter(
    "clarion_snapshot_skipped_items_total", "Items left out of a connect snapshot because they cannot be encoded",
    ["endpoint"]
)
PARKED_ROWS = Gauge("clarion_parked_rows", "Log rows parked as unpublishable now, in the whole database")
SEQUENCED_ROWS = Counter("clarion_sequenced_rows_total", "Log rows given their place in a stream", ["log"])
SEQUENCE_BATCHES = Counter(
    "clarion_sequence_batches_total", "Transactions that numbered rows of a stream (rows / batches = group size)",
    ["log"]
)
