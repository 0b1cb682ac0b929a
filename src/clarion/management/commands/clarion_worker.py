"""manage.py clarion_worker: the delivery worker (email when unread, digests, Web Push) in a host
project, whose ASGI server runs no Clarion lifespan. The standalone server's `clarion worker`."""

import logging
import signal
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Plan and send deliveries: email for notifications still unread after their delay, digests, Web Push. "
            "Any number may run at once: each delivery is claimed by one worker.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one round (plan, then one batch) and exit")

    def handle(self, *args, once=False, **options):
        from clarion.delivery import worker

        if once:
            planned, settled = worker.run_round()
            self.stdout.write(f"planned {planned} deliveries, settled {settled}")
            return
        logging.getLogger("clarion.delivery").setLevel(logging.INFO)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.stdout.write("Clarion delivery worker running (Ctrl+C to stop)")
        self.stdout.flush()
        try:
            worker.run_forever()
        except (KeyboardInterrupt, SystemExit):
            pass
