"""clarion migrate: create or update the database tables."""

from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser("migrate", help="create or update the database tables")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    new_database = not executor.loader.applied_migrations
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    call_command("migrate", interactive=False, verbosity=0)
    where = _database_name(connection)
    if not pending:
        print(f"database is up to date ({where}): no migrations to apply")
    elif new_database:
        print(f"created the database tables ({where}): {pending} migrations applied")
    else:
        print(f"updated the database ({where}): {pending} migrations applied")


def _database_name(connection) -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite3 {settings['NAME']}"
    host = settings.get("HOST") or "localhost"
    return f"{connection.vendor} {settings['NAME']} on {host}"
