"""clarion worker: the delivery worker on its own (email and Web Push), for sites that run it
apart from the servers. `clarion serve` runs one in each serving process unless --no-worker."""

import logging

from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser(
        "worker", help="send due emails and Web Push notifications (runs until stopped)",
        description="Plan and send deliveries: email for notifications still unread after their delay, digests, "
                    "Web Push. Any number of workers (and serving processes) may run at once: a delivery is "
                    "claimed by one. Configuration as for serve (DATABASE_URL, CLARION_EMAIL_URL, ...).")
    parser.add_argument("--once", action="store_true", help="run one round (plan, then send one batch) and exit")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from clarion.delivery import worker

    worker.run_command(args.once, lambda line: print(line, flush=True))
    return 0
