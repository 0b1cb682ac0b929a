"""clarion adduser: create a user with a role (password from --password or stdin)."""

import sys

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser("adduser", help="create a user with a role",
                                   description="Create a user. The password comes from --password or "
                                   "the first line of standard input.")
    parser.add_argument("username")
    parser.add_argument("--role", required=True, help="one of CLARION['ROLES'] (default: student, advisor, admin)")
    parser.add_argument("--password", help="the password (default: read one line from stdin)")
    parser.add_argument("--email", default="", help="the address notifications still unread are mailed to")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from clarion.conf import clarion_settings
    from clarion.roles import set_role

    if args.role not in clarion_settings.ROLES:
        raise CommandFailed(f"unknown role {args.role!r}; expected one of: {', '.join(clarion_settings.ROLES)}")
    if args.email:
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(args.email)
        except ValidationError:
            raise CommandFailed(f"{args.email!r} is not an email address") from None
    password = args.password
    if password is None:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise CommandFailed("empty password; pass --password or write it on standard input")
    User = get_user_model()
    if User.objects.filter(username=args.username).exists():
        raise CommandFailed(f"user {args.username!r} already exists")
    with transaction.atomic():
        user = User.objects.create_user(username=args.username, password=password, email=args.email)
        set_role(user, args.role)
    print(f"created user {args.username!r} (id {user.pk}, role {args.role})")
