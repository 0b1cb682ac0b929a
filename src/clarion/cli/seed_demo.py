"""clarion seed-demo: demo users of every role and a few notifications (idempotent)."""

from clarion.cli.errors import CommandFailed
from clarion.cli.setup import django_setup

DEMO_PASSWORD = "demo-password"
DEMO_USERS = [("alice", "student"), ("bob", "student"), ("carol", "advisor"), ("dave", "admin")]


def register(subparsers):
    parser = subparsers.add_parser(
        "seed-demo", help="create demo users and notifications",
        description=f"Create demo users (password {DEMO_PASSWORD!r}) and a few notifications. "
        "Refuses to run when DEBUG is off (CLARION_DEBUG=1), unless --force.",
    )
    parser.add_argument("--force", action="store_true", help="run even with DEBUG off")
    parser.set_defaults(run=run)


def run(args):
    django_setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from clarion.notifications import services
    from clarion.notifications.models import Notification
    from clarion.roles import set_role

    if not settings.DEBUG and not args.force:
        raise CommandFailed("refusing to create demo users with known passwords while DEBUG is off "
                            "(set CLARION_DEBUG=1 or pass --force)")
    User = get_user_model()
    with transaction.atomic():
        users = {}
        for username, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            set_role(user, role)
            users[username] = user
        if not Notification.objects.exists():
            admin = users["dave"]
            services.send_notification_to_all("Welcome to Clarion", "Notifications arrive here live.",
                                              "info", created_by=admin)
            services.send_notification_to_role("student", "Proposal deadline", "Project proposals are due Friday.",
                                               "warning", created_by=admin)
            services.send_notification_to_role("advisor", "Review queue", "Three proposals await your review.",
                                               "info", created_by=admin)
            services.send_notification_to_user(users["alice"], "Proposal approved",
                                               "Your advisor approved your proposal.", "success", created_by=admin)
    print(f"demo users (password {DEMO_PASSWORD}):")
    for username, role in DEMO_USERS:
        print(f"  {username:<6} {role}")
