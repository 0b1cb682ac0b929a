"""clarion serve: run the ASGI server (uvicorn; see docs/decisions/0001-asgi-server.md)."""

import argparse
import os
import sys

from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser("serve", help="run the server", description="Run the Clarion server.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default: 8000)")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--ws-per-message-deflate", action=argparse.BooleanOptionalAction, default=False,
                        help="accept the permessage-deflate compression browsers offer (default: off; costs server"
                             " memory and CPU per socket, see docs/decisions/0006-permessage-deflate.md)")
    parser.add_argument("--header-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                        help="close a connection whose request head (a WebSocket upgrade's too) is not complete"
                             " this many seconds after it opened or after its previous response (default: 10;"
                             " 0 turns it off)")
    parser.add_argument("--max-connections", type=_count, default=None, metavar="N",
                        help="open connections (HTTP and WebSocket) beyond which a new one is answered 503 and"
                             " closed (default: the open-file limit minus 128; 0 turns it off)")
    parser.add_argument("--ws-ping-interval", type=_seconds, default=None, metavar="SECONDS",
                        help="send a protocol ping on every socket this often (default: CLARION['WS_PING_INTERVAL'],"
                             " 20; 0 turns pings off)")
    parser.add_argument("--ws-ping-timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="close a socket (1011) whose peer has not answered a ping within this many seconds"
                             " (default: CLARION['WS_PING_TIMEOUT'], 20)")
    parser.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                        help="run the delivery worker (email, Web Push) in this process (default: on; "
                             "--no-worker when `clarion worker` runs apart)")
    parser.set_defaults(run=run)


def _seconds(text):
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, got {text!r}")
    return value


def run(args):
    if not args.worker:
        os.environ["CLARION_DELIVERY_WORKER"] = "0"  # read by the settings, which the lifespan follows
    # Links in mails need the site's address: without CLARION_SITE_URL, the one this serves on.
    local = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
    os.environ.setdefault("CLARION_SITE_URL", f"http://{local}:{args.port}")
    django_setup()
    import uvicorn
    from django.conf import settings
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from clarion.cli import serve_guard
    from clarion.conf import clarion_settings

    open_files = serve_guard.raise_open_file_limit()
    max_connections = args.max_connections
    if max_connections is None:
        max_connections = serve_guard.default_max_connections(open_files)

    ping_interval = args.ws_ping_interval if args.ws_ping_interval is not None else float(clarion_settings.WS_PING_INTERVAL)
    ping_timeout = args.ws_ping_timeout if args.ws_ping_timeout is not None else float(clarion_settings.WS_PING_TIMEOUT)

    shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    database = settings.DATABASES["default"]
    broker = str(getattr(clarion_settings.BROKER, "__name__", clarion_settings.BROKER)).rsplit(".", 1)[-1]
    print(f"Clarion is running at http://{shown_host}:{args.port}/  (database: {database['ENGINE'].rsplit('.', 1)[-1]}"
          f" {database['NAME']}, broker: {broker}; Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(
        "clarion.server.asgi:application",
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        ws="websockets-sansio",
        ws_max_size=clarion_settings.MAX_FRAME_BYTES,
        # Off by default: measured in docs/decisions/0006-permessage-deflate.md (bench/deflate.py).
        ws_per_message_deflate=args.ws_per_message_deflate,
        proxy_headers=False,
        # Protocol pings: a socket whose peer stopped answering is closed (1011) after at most
        # interval + timeout (docs/security.md). Always passed, not left to uvicorn's defaults,
        # which may change.
        ws_ping_interval=ping_interval or None,
        ws_ping_timeout=ping_timeout or None,
        # Idle connections (issue 10): uvicorn times out only the gap between two requests of
        # a keep-alive connection; serve_guard times out the first head and bounds the count.
        timeout_keep_alive=5,
        http=serve_guard.guarded_protocol(AutoHTTPProtocol, head_timeout=args.header_timeout,
                                          max_connections=max_connections),
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as exc:
        print(f"clarion serve: error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
