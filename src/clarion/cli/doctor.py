"""clarion doctor: say which Redis the processes meet in (one server or a cluster, and whether
it serves every slot); list the log rows that were parked, and retry or drop them.

A row is parked when it can never be sequenced or pushed (its data cannot be encoded into a
frame, its audience names no valid group): its stream goes on without it (docs/operations
in docs/architecture.md, "Parked rows"). Fix the cause (the data, the ROLES setting), then
retry; or drop the row.
"""

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser(
        "doctor", help="list parked log rows; retry or drop them",
        description="List the notifications, project events and chat messages that could not be published "
                    "and were set aside (parked) so that their stream goes on; retry or drop them.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--retry", nargs="+", metavar="LOG:ID",
                        help="put these parked rows back in line (e.g. notification:7); the relay publishes them")
    action.add_argument("--retry-all", action="store_true", help="retry every parked row")
    action.add_argument("--drop", nargs="+", metavar="LOG:ID", help="delete these parked rows for good")
    parser.set_defaults(run=run)


def _entries(specs):
    from clarion.streams import parking

    chosen = []
    for spec in specs:
        log, _, row_id = spec.partition(":")
        if not row_id.isdigit():
            raise CommandFailed(f"{spec!r} is not LOG:ID (e.g. notification:7); `clarion doctor` lists them")
        entry = parking.parked_entries().filter(log=log, row_id=int(row_id)).first()
        if entry is None:
            raise CommandFailed(f"{spec} is not parked; `clarion doctor` lists the parked rows")
        chosen.append(entry)
    return chosen


def run(args):
    django_setup()
    from clarion.streams import parking, repair

    if args.retry or args.retry_all:
        entries = list(parking.parked_entries()) if args.retry_all else _entries(args.retry)
        still = 0
        for entry in entries:
            problem = repair.retry(entry)
            if problem is None:
                print(f"{entry.log}:{entry.row_id}: back in line; the relay publishes it")
            else:
                still += 1
                print(f"{entry.log}:{entry.row_id}: still parked: {problem}")
        if still:
            raise CommandFailed(f"{still} of {len(entries)} rows still cannot be published")
        return 0
    if args.drop:
        for entry in _entries(args.drop):
            repair.drop(entry)
            print(f"{entry.log}:{entry.row_id}: dropped")
        return 0
    redis_healthy = _report_redis()
    entries = list(parking.parked_entries())
    if not entries:
        print("no parked rows: every stream is flowing")
    else:
        print(f"{len(entries)} parked row(s); retry with `clarion doctor --retry LOG:ID`, or drop with --drop")
    for entry in entries:
        seq = "-" if entry.seq is None else entry.seq
        print(f"{entry.log}:{entry.row_id}\tstream {entry.stream or '-'}\tseq {seq}\t{entry.stage}\t"
              f"{entry.parked_at:%Y-%m-%d %H:%M:%S}\t{entry.reason}")
    if not redis_healthy:
        raise CommandFailed("Redis is not healthy (see above)")
    return 0


def _report_redis() -> bool:
    from clarion.realtime import redis_client
    from clarion.realtime.broker import redis_options

    options = redis_options()
    if options is None:
        print("redis: not used (one process, the in-process broker)")
        return True
    healthy, line = redis_client.describe(options["url"])
    buckets = options.get("buckets")
    print(f"redis: {line}" + (f"; notification channels in {buckets} buckets" if buckets else ""))
    return healthy
