"""clarion token: print an access token for a user (for scripts and curl)."""

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser("token", help="print an access token for a user")
    parser.add_argument("username")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    from django.contrib.auth import get_user_model

    from clarion.auth.tokens import access_token_for

    user = get_user_model().objects.filter(username=args.username).first()
    if user is None:
        raise CommandFailed(f"no user {args.username!r}")
    if not user.is_active:
        raise CommandFailed(f"user {args.username!r} is inactive")
    print(access_token_for(user))
