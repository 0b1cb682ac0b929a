"""What `clarion serve` adds to uvicorn so that idle connections cannot exhaust it (issue 10).

A probe held 1,100 silent connections against `ulimit -n 1024` and every request failed,
with nothing logged. uvicorn (0.55, read in its httptools and h11 protocols) arms a timer only
between requests of a keep-alive connection: a connection that never completes its first
request head, or that sends half a head after a response (a WebSocket upgrade included: the
upgrade happens only once the head is complete), is held forever. Its ``limit_concurrency``
answers 503 only to a complete request, which a silent connection never sends, and WebSocket
handshakes skip it. So this module:

- wraps uvicorn's HTTP protocol class (``uvicorn.Config(http=...)`` takes a class) to close a
  connection whose request head is not complete within ``head_timeout`` seconds of its
  opening or of its previous response;
- refuses, with a 503 and at once, a connection that would take the server beyond
  ``max_connections`` open connections (HTTP and WebSocket together);
- raises the process's own open-file limit to its hard limit, so that the bound, not the
  kernel, is what a flood meets first.

A reverse proxy with header timeouts and per-client limits stays the first line (docs).
"""

import logging
import time

logger = logging.getLogger("clarion.serve")

# Descriptors left for what is not a client connection: the database, Redis, log files,
# worker threads' connections, static files being sent.
RESERVED_FILES = 128

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\n"
         b"content-type: text/plain; charset=utf-8\r\n"
         b"content-length: 28\r\n"
         b"retry-after: 1\r\n"
         b"connection: close\r\n\r\n"
         b"server at connection limit\r\n")


def raise_open_file_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard one where the platform allows; the soft limit
    in force afterwards (None where there is no such limit, e.g. Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    except (ValueError, OSError):  # e.g. macOS refuses more than OPEN_MAX
        return soft


def default_max_connections(open_files: int | None) -> int:
    """The connection bound when none is given: what the open-file limit leaves (0: none)."""
    if open_files is None:
        return 0
    return max(16, open_files - RESERVED_FILES)


class RateLimitedLog:
    """One log line per ``every`` seconds at most, counting what it did not print: a flood
    must not become a flood of log lines, and must not go unnoticed either."""

    def __init__(self, level: int, message: str, every: float = 60.0):
        self.level, self.message, self.every = level, message, every
        self._last = None
        self._count = 0

    def hit(self, **details) -> None:
        self._count += 1
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every:
            return
        logger.log(self.level, self.message, {**details, "count": self._count, "every": self.every})
        self._last, self._count = now, 0


def guarded_protocol(base: type, *, head_timeout: float, max_connections: int) -> type:
    """A subclass of uvicorn's HTTP protocol ``base`` (httptools or h11) with the timeout and
    the bound above; 0 turns either off."""
    refused = RateLimitedLog(
        logging.WARNING,
        "refused %(count)d connection(s) in the last %(every)gs: %(open)d open, the limit is %(limit)d"
        " (clarion serve --max-connections)")
    timed_out = RateLimitedLog(
        logging.INFO,
        "closed %(count)d connection(s) in the last %(every)gs that sent no complete request head"
        " within %(timeout)gs (clarion serve --header-timeout)")

    class GuardedHTTPProtocol(base):
        _head_timer = None
        _waiting_cycle = None

        def connection_made(self, transport):
            super().connection_made(transport)
            if max_connections and len(self.connections) > max_connections:
                refused.hit(open=len(self.connections) - 1, limit=max_connections)
                transport.write(_BUSY)
                transport.close()
                return
            self._await_head()

        def data_received(self, data):
            super().data_received(data)
            if self._head_timer is not None and self._head_done():
                self._stop_waiting()

        def on_response_complete(self):
            super().on_response_complete()
            self._await_head()

        def connection_lost(self, exc):
            self._stop_waiting()
            super().connection_lost(exc)

        def _await_head(self):
            """Between requests: the next head must be complete within head_timeout."""
            if not head_timeout or self.transport.is_closing() or self._head_timer is not None:
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being served (or a pipelined one is queued)
            self._waiting_cycle = self.cycle
            self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _head_done(self) -> bool:
            # Both uvicorn protocols start a new cycle when a head is complete, and hand the
            # transport to the WebSocket protocol when it asks for an upgrade.
            return (self.cycle is not self._waiting_cycle or self.transport.is_closing()
                    or self.transport.get_protocol() is not self)

        def _stop_waiting(self):
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self):
            self._head_timer = None
            if not self.transport.is_closing():
                timed_out.hit(timeout=head_timeout)
                self.transport.close()

    GuardedHTTPProtocol.__name__ = GuardedHTTPProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedHTTPProtocol
