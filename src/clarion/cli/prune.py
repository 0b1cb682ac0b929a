"""clarion prune: delete what retention lets go (expired, then old and read, then old)."""

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser(
        "prune", help="delete expired notifications and those older than CLARION_RETENTION_DAYS",
        description="Delete, in batches of 1,000, expired notifications, then those older than the retention "
                    "period that their reader read, then the rest of that age, with their read and inbox state. "
                    "Run it daily (cron, a systemd timer); it is safe while servers run.")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    parser.add_argument("--days", type=int, default=None,
                        help="keep this many days instead of CLARION['RETENTION_DAYS'] (default 365)")
    parser.set_defaults(run=run)


def run(args):
    if args.days is not None and args.days < 0:
        raise CommandFailed("--days must be 0 or more")
    django_setup()
    from clarion.notifications import retention

    report = retention.prune(days=args.days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    parts = ", ".join(f"{count} {phase}" for phase, count in report.deleted.items())
    print(f"{verb} {report.total} notifications ({parts}); keeping those created since "
          f"{report.cutoff.isoformat(timespec='seconds').replace('+00:00', 'Z')}")
    if report.receipts:
        print(f"{verb} {report.receipts} delivery receipts older than that")
    if not args.dry_run and report.retained_after:
        print(f"cursors at or before log position {report.retained_after} now get a fresh snapshot")
