"""Categories and topics (issue 13, item 1): every notification has a category of
CLARION["CATEGORIES"] (announcement when none is given) and an optional topic; an unknown
category or a malformed topic is refused before anything is stored; Clarion's own project
notifications carry theirs."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from rest_framework.test import APIClient

from clarion import checks as clarion_checks
from clarion.auth.tokens import access_token_for
from clarion.notifications.models import Notification
from clarion.notifications.payloads import notification_payload
from clarion.notifications.services import (
    IdempotencyConflict,
    send_notification_to_all,
    send_notification_to_user,
    send_notification_to_users,
)

pytestmark = pytest.mark.django_db


def admin_client(people):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['dave'])}")
    return client


def test_a_notification_without_a_category_is_an_announcement_with_no_topic(people):
    row = send_notification_to_all("Welcome")
    assert (row.category, row.topic) == ("announcement", "")
    payload = notification_payload(row, is_read=False)
    assert (payload["category"], payload["topic"]) == ("announcement", "")
    response = admin_client(people).post("/api/notifications/", {"title": "t", "recipient_type": "all"}, format="json")
    assert response.status_code == 201 and response.json()["category"] == "announcement"


def test_category_and_topic_are_stored_and_shown_on_rest_and_python(people):
    row = send_notification_to_user(people["alice"], "Due Friday", category="deadline", topic="project:7")
    assert Notification.objects.get(pk=row.pk).category == "deadline"
    response = admin_client(people).post("/api/notifications/", {
        "title": "Review ready", "recipient_type": "user", "recipient_id": str(people["alice"].pk),
        "category": "review", "topic": "room:thesis-a"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["category"], response.json()["topic"]) == ("review", "room:thesis-a")
    listed = APIClient()
    listed.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['alice'])}")
    items = {item["title"]: item for item in listed.get("/api/notifications/").json()["results"]}
    assert (items["Due Friday"]["category"], items["Due Friday"]["topic"]) == ("deadline", "project:7")


def test_an_unknown_category_is_a_value_error_and_a_400_naming_the_field_and_nothing_is_stored(people):
    before = Notification.objects.count()
    with pytest.raises(ValueError) as refused:
        send_notification_to_user(people["alice"], "x", category="gossip")
    assert isinstance(refused.value, ValidationError) and "category" in refused.value.message_dict
    client = admin_client(people)
    response = client.post("/api/notifications/", {"title": "x", "recipient_type": "all", "category": "gossip"},
                           format="json")
    assert response.status_code == 400 and "gossip" in response.json()["category"][0]
    bulk = client.post("/api/notifications/bulk/", {"notifications": [
        {"title": "ok", "recipient_type": "all"}, {"title": "x", "recipient_type": "all", "category": "gossip"}]},
        format="json")
    assert bulk.status_code == 400 and "category" in bulk.json()["notifications"]["1"]
    with pytest.raises(ValueError):
        send_notification_to_users([people["alice"], people["bob"]], "x", category="gossip")
    assert Notification.objects.count() == before


@pytest.mark.parametrize("topic", ["project 7", "project:", ":7", "x" * 101, "project:7/8", 7])
def test_a_malformed_topic_is_refused(people, topic):
    with pytest.raises(ValidationError) as refused:
        send_notification_to_all("x", topic=topic)
    assert "topic" in refused.value.message_dict


def test_many_at_once_carry_their_category(people):
    rows = send_notification_to_users([people["alice"], people["bob"]], "Grades", category="review", topic="course:101")
    assert {(r.category, r.topic) for r in rows} == {("review", "course:101")}


def test_the_same_idempotency_key_with_another_category_is_a_conflict(people):
    send_notification_to_all("Once", idempotency_key="k-1", category="announcement")
    with pytest.raises(IdempotencyConflict):
        send_notification_to_all("Once", idempotency_key="k-1", category="system")


def test_clarions_own_project_notifications_carry_their_category_and_topic(people):
    from clarion.projects import services
    from clarion.projects.models import ProjectStatus

    ProjectStatus.objects.get_or_create(slug="proposal", defaults={"label": "Proposal", "position": 0})
    project = services.create_project(title="Thesis", advisor=people["carol"], members=[people["alice"]],
                                      actor=people["dave"])
    added = Notification.objects.filter(recipient_id=str(people["alice"].pk)).latest("pk")
    assert (added.category, added.topic) == ("project_update", f"project:{project.pk}")
    services.submit(project, kind="submission", title="Chapter 1", actor=people["alice"])
    submitted = Notification.objects.filter(recipient_id=str(people["carol"].pk)).latest("pk")
    assert (submitted.category, submitted.topic) == ("submission", f"project:{project.pk}")


# -- the setting --------------------------------------------------------------------------------


def check(**clarion):
    with override_settings(CLARION=clarion):
        return [m.id for m in clarion_checks.check_categories(None)]


def test_the_shipped_categories_pass_the_check():
    assert check() == []
    with override_settings(CLARION={}):
        from clarion.conf import clarion_settings

        assert set(clarion_settings.CATEGORIES) == {"deadline", "project_update", "comment", "submission", "review",
                                                     "announcement", "system"}
        assert clarion_settings.CATEGORIES["deadline"]["locked"] and clarion_settings.CATEGORIES["system"]["locked"]


@pytest.mark.parametrize("categories, default", [
    ({}, "announcement"),
    ({"Bad Key": {"label": "x", "locked": False, "channels": ["in_app"]}}, "Bad Key"),
    ({"news": {"label": "", "locked": False, "channels": ["in_app"]}}, "news"),
    ({"news": {"label": "News", "locked": "yes", "channels": ["in_app"]}}, "news"),
    ({"news": {"label": "News", "locked": False, "channels": ["pigeon"]}}, "news"),
    ({"news": {"label": "News", "colour": "red"}}, "news"),
    ({"news": {"label": "News", "locked": False, "channels": ["in_app"]}}, "announcement"),
])
def test_a_malformed_categories_setting_fails_the_start_up_check(categories, default):
    assert "clarion.E011" in check(CATEGORIES=categories, DEFAULT_CATEGORY=default)


def test_a_site_with_its_own_categories_creates_with_them(people):
    own = {"news": {"label": "News", "locked": False, "channels": ["in_app"]},
           "alert": {"label": "Alerts", "locked": True, "channels": ["in_app"]}}
    with override_settings(CLARION={"CATEGORIES": own, "DEFAULT_CATEGORY": "news"}):
        assert check(CATEGORIES=own, DEFAULT_CATEGORY="news") == []
        assert send_notification_to_all("Hello").category == "news"
        assert send_notification_to_all("Fire", category="alert").category == "alert"
        with pytest.raises(ValueError):
            send_notification_to_all("x", category="announcement")


def test_a_row_inserted_without_the_new_columns_gets_their_defaults(people):
    # A process of the previous release during a rolling deploy, or a script's own INSERT.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO clarion_notification (title, message, notification_type, recipient_type, recipient_id,"
            " created_at, link, data) VALUES (%s, '', 'info', 'all', '', %s, '', %s)",
            ["From an old process", "2026-12-04 00:00:00+00:00", "{}"],
        )
    row = Notification.objects.get(title="From an old process")
    assert (row.category, row.topic) == ("announcement", "")
