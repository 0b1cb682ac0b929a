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
