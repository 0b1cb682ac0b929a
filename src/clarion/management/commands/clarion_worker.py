"""manage.py clarion_worker: the delivery worker (email when unread, digests, Web Push) in a host
project, whose ASGI server runs no Clarion lifespan. The standalone server's `clarion worker`."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Plan and send deliveries: email for notifications still unread after their delay, digests, Web Push. "
            "Any number may run at once: each delivery is claimed by one worker.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one round (plan, then one batch) and exit")

    def handle(self, *args, once=False, **options):
        from clarion.delivery import worker

        def write(line):
            self.stdout.write(line)
            self.stdout.flush()

        worker.run_command(once, write)
