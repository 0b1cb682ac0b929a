"""clarion serve: run the ASGI server (uvicorn; see docs/decisions/0001-asgi-server.md)."""

import argparse
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
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    import uvicorn
    from django.conf import settings

    from clarion.conf import clarion_settings

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
        # Protocol pings: a socket whose peer stopped answering is closed (1011) after about
        # 40 s (docs/security.md). Set here, not left to uvicorn's defaults, which may change.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as exc:
        print(f"clarion serve: error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0
