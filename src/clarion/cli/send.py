"""clarion send: create a notification from the shell; it is pushed like any other."""

import json

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup


def register(subparsers):
    parser = subparsers.add_parser("send", help="create a notification",
                                   description="Create a notification for a user, a role or everyone.")
    audience = parser.add_mutually_exclusive_group(required=True)
    audience.add_argument("--user", help="username or numeric user id")
    audience.add_argument("--role", help="role name")
    audience.add_argument("--all", action="store_true", help="every user")
    parser.add_argument("--title", required=True)
    parser.add_argument("--message", default="")
    parser.add_argument("--type", dest="notification_type", default="info",
                        choices=["info", "success", "warning", "error"])
    parser.add_argument("--link", default="")
    parser.add_argument("--data", help="a JSON object attached to the notification")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError

    from clarion.notifications import services

    data = None
    if args.data:
        try:
            data = json.loads(args.data)
        except ValueError as exc:
            raise CommandFailed(f"--data is not valid JSON: {exc}") from None
    options = dict(title=args.title, message=args.message, notification_type=args.notification_type,
                   link=args.link, data=data)
    try:
        if args.user:
            User = get_user_model()
            user = User.objects.filter(username=args.user).first()
            if user is None and args.user.isdigit():
                user = User.objects.filter(pk=int(args.user)).first()
            if user is None:
                raise CommandFailed(f"no user {args.user!r}")
            notification = services.send_notification_to_user(user, **options)
        elif args.role:
            notification = services.send_notification_to_role(args.role, **options)
        else:
            notification = services.send_notification_to_all(**options)
    except ValidationError as exc:
        details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        raise CommandFailed(details) from None
    print(json.dumps({"id": notification.pk, "recipient_type": notification.recipient_type,
                      "recipient_id": notification.recipient_id}))
