"""clarion migrate: create or update the database tables."""

from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser("migrate", help="create or update the database tables")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    print("database is up to date")
