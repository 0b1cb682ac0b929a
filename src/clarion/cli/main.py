"""Entry point of the ``clarion`` command."""

import argparse
import sys

from clarion.cli import adduser, doctor, listen, migrate, prune, seed_demo, send, serve, token, worker
from clarion.cli.errors import CommandFailed

COMMANDS = (serve, worker, migrate, seed_demo, adduser, send, token, listen, doctor, prune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clarion",
        description="Clarion: real-time notifications for Django. Configuration comes from the "
        "environment (DATABASE_URL, REDIS_URL, CLARION_DEBUG, ...; see docs/configuration.md).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except CommandFailed as exc:
        print(f"clarion {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a one-line message, never a traceback
        print(f"clarion {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
