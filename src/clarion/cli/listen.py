"""clarion listen: print a user's live notifications, one JSON object per line.

Built on clarion.client, so it reconnects with backoff and resumes from the last cursor: a
server restart costs no notification and repeats none. Notifications go to stdout (one line
each, flushed, for pipes such as ``| jq``); everything else goes to stderr.
"""

import asyncio
import json
import os
import signal
import sys

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup
from clarion.client.threads import in_daemon_thread

DEFAULT_URL = "ws://127.0.0.1:8000"  # where `clarion serve` listens by default
MAX_DELAY = 10.0  # seconds between reconnect attempts, at most


def register(subparsers):
    parser = subparsers.add_parser(
        "listen", help="print live notifications as JSON lines",
        description="Print a user's notifications as they arrive, one JSON object per line on stdout; "
                    "status messages go to stderr. Reconnects and resumes by cursor after a server "
                    "restart, without losing or repeating notifications. Ctrl+C to stop.")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="listen as this user (username); tokens are minted locally, like "
                                    "`clarion token`, so this needs the server's configuration "
                                    "(CLARION_DATA_DIR or DATABASE_URL, and the secret key)")
    who.add_argument("--token", help="listen with this access token; when it expires, reconnecting fails")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server address (default: {DEFAULT_URL})")
    parser.add_argument("--recent", action="store_true",
                        help="first print the unread notifications of the snapshot sent at connect (oldest first)")
    parser.add_argument("--max-attempts", type=int, default=10, metavar="N",
                        help="give up after N failed connection attempts in a row (default: 10; 0: never); "
                             f"the waits between them grow to at most {MAX_DELAY:g}s")
    parser.set_defaults(run=run)


def run(args):
    if args.max_attempts < 0:
        raise CommandFailed("--max-attempts cannot be negative")
    provider = _local_token_provider(args.user) if args.user else None
    try:
        return asyncio.run(_listen(args, provider))
    except BrokenPipeError:
        # The reader went away (`| head -3`): stop quietly, like other line-printing tools, and
        # keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _local_token_provider(username):
    django_setup()
    from django.contrib.auth import get_user_model

    from clarion.auth.tokens import access_token_for
    from clarion.client import AuthenticationError

    def mint():
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise AuthenticationError(f"no user {username!r}")
        if not user.is_active:
            raise AuthenticationError(f"user {username!r} is inactive")
        return access_token_for(user)

    try:
        mint()  # a wrong name fails now, not after the first connection attempt
    except AuthenticationError as exc:
        raise CommandFailed(str(exc)) from None

    async def provider():
        # A fresh token before every connect, so that reconnecting hours later still works.
        # A daemon thread: a query waiting on SQLite's lock must not hold up Ctrl+C.
        return await in_daemon_thread(mint)

    return provider


def status(message):
    print(f"clarion listen: {message}", file=sys.stderr, flush=True)


def emit(payload):
    # ASCII escapes: a line survives any terminal or pipe encoding and is still plain JSON.
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _listen(args, provider):
    from clarion.client import (
        Backoff,
        Client,
        ClientError,
        Connected,
        Disconnected,
        Notification,
        RecentNotifications,
        ServerError,
    )
    from clarion.client.dedupe import SeenIds

    try:
        # A lower cap than the library's: someone watching a terminal wants to see the server
        # back within seconds of its restart, and one listener adds no thundering herd.
        client = Client(args.url, token=args.token, token_provider=provider,
                        backoff=Backoff(cap=MAX_DELAY, max_attempts=args.max_attempts or None))
    except ValueError as exc:
        raise CommandFailed(f"--url: {exc}") from None
    # SIGTERM (a service manager, `kill`) closes the socket cleanly and exits 0; Ctrl+C arrives
    # as KeyboardInterrupt, which closes it the same way on the way out (exit 130).
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(client.close()))
    printed = SeenIds()  # snapshots after a failed resume may hold notifications printed before
    first_snapshot = True
    async with client:
        try:
            async for event in client.events():
                if isinstance(event, Notification):
                    if printed.add(event.id):
                        emit(event.raw)
                elif isinstance(event, RecentNotifications):
                    if event.resumed:
                        status("resumed; replaying what was missed")
                    elif not first_snapshot:
                        status("could not resume; notifications sent while disconnected may be missing")
                    if args.recent and not event.resumed:
                        for notification in reversed(event.notifications):
                            if printed.add(notification.id):
                                emit(notification.raw)
                    if first_snapshot:
                        status(f"listening ({event.unread_count} unread)")
                    first_snapshot = False
                elif isinstance(event, Connected):
                    status(f"connected to {event.url}")
                elif isinstance(event, Disconnected):
                    status(f"not connected: {event.description}; retrying in {event.reconnect_in:.2f}s")
                elif isinstance(event, ServerError):
                    status(f"server error {event.code}: {event.message}")
        except ClientError as exc:
            raise CommandFailed(str(exc)) from None
    return 0
