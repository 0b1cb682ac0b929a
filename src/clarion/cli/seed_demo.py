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


def _demo_project(users):
    """A project for alice and bob, advised by carol, with a little history (its room is
    project-<id>). Created directly rather than through the services, so that it adds no
    notifications beside the demo's own."""
    from clarion.projects.models import Project, ProjectMembership, ProjectStatus
    from clarion.projects.services import publish_project_event

    if Project.objects.exists():
        return
    project = Project.objects.create(title="Autonomous greenhouse", description="Sensors, irrigation, a dashboard.",
                                     status=ProjectStatus.objects.get(slug="in_progress"), advisor=users["carol"])
    ProjectMembership.objects.bulk_create([ProjectMembership(project=project, user=users[n]) for n in ("alice", "bob")])
    publish_project_event(project, "created", {"title": project.title, "status": "in_progress"}, users["dave"])
    publish_project_event(project, "comment", {"text": "Please add the sensor list to chapter 2."}, users["carol"])


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
            user = User.objects.filter(username=username).first()
            if user is None:
                # Created with its password: saved later with a new one, a user's sessions end
                # (clarion.auth.signals), which a user created a moment ago has none of.
                user = User(username=username, email=f"{username}@example.edu")
                user.set_password(DEMO_PASSWORD)
                user.save()
            elif not user.email:  # demo users of an earlier release had no address: mails need one
                User.objects.filter(pk=user.pk).update(email=f"{username}@example.edu")
            set_role(user, role)
            users[username] = user
        if not Notification.objects.exists():
            admin = users["dave"]
            services.send_notification_to_all("Welcome to Clarion", "Notifications arrive here live.",
                                              "info", created_by=admin)
            services.send_notification_to_role("student", "Proposal deadline", "Project proposals are due Friday.",
                                               "warning", created_by=admin, category="deadline")
            services.send_notification_to_role("advisor", "Review queue", "Three proposals await your review.",
                                               "info", created_by=admin, category="review")
            services.send_notification_to_user(users["alice"], "Proposal approved",
                                               "Your advisor approved your proposal.", "success", created_by=admin,
                                               category="review")
        _demo_project(users)
    print(f"demo users (password {DEMO_PASSWORD}):")
    for username, role in DEMO_USERS:
        print(f"  {username:<6} {role:<8} {username}@example.edu")
