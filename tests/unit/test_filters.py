"""GET /api/notifications/ filters (issue 13, item 6): category, topic, unread, q, through
django-filter; a malformed value is a 400 naming the parameter; pagination stays."""

import pytest
from rest_framework.test import APIClient

from clarion.auth.tokens import access_token_for
from clarion.notifications.services import mark_as_read, send_notification_to_role, send_notification_to_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_inbox(people):
    alice = people["alice"]
    made = {
        "due": send_notification_to_user(alice, "Chapter 2 due", "Friday 17:00", category="deadline", topic="project:7"),
        "comment": send_notification_to_user(alice, "New comment", "Looks good, see the sensor list",
                                             category="comment", topic="project:7"),
        "other": send_notification_to_user(alice, "Other project", "", category="comment", topic="project:8"),
        "role": send_notification_to_role("student", "Proposal deadline", "Due Friday", category="deadline"),
        "bob": send_notification_to_user(people["bob"], "Just bob", "sensor", category="comment", topic="project:7"),
    }
    mark_as_read(alice.pk, "student", [made["comment"].pk])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(alice)}")
    return client


def titles(client, query):
    response = client.get(f"/api/notifications/?{query}")
    assert response.status_code == 200, response.content
    return sorted(item["title"] for item in response.json()["results"])


def test_category_topic_unread_and_text_filter_the_readers_own_list(alice_inbox):
    assert titles(alice_inbox, "category=deadline") == ["Chapter 2 due", "Proposal deadline"]
    assert titles(alice_inbox, "topic=project:7") == ["Chapter 2 due", "New comment"]  # not bob's
    assert titles(alice_inbox, "unread=true") == ["Chapter 2 due", "Other project", "Proposal deadline"]
    assert titles(alice_inbox, "unread=yes") == titles(alice_inbox, "unread=1") == titles(alice_inbox, "unread=true")
    assert titles(alice_inbox, "unread=false") == ["New comment"]
    assert titles(alice_inbox, "q=SENSOR") == ["New comment"]  # the message, any case; not bob's
    assert titles(alice_inbox, "q=friday") == ["Chapter 2 due", "Proposal deadline"]
    assert titles(alice_inbox, "category=comment&topic=project:7&unread=false") == ["New comment"]


@pytest.mark.parametrize("query, field", [("category=gossip", "category"), ("unread=maybe", "unread"),
                                          ("topic=" + "x" * 101, "topic")])
def test_a_malformed_filter_is_a_400_naming_it(alice_inbox, query, field):
    response = alice_inbox.get(f"/api/notifications/?{query}")
    assert response.status_code == 400 and field in response.json()


def test_filters_page_as_before(alice_inbox):
    first = alice_inbox.get("/api/notifications/?category=deadline&page_size=1").json()
    assert len(first["results"]) == 1 and first["next"]
    second = alice_inbox.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["results"][0]["id"] != first["results"][0]["id"]


def test_the_schema_lists_the_filters():
    schema = APIClient().get("/api/schema/?format=json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/notifications/"]["get"]["parameters"]}
    assert {"category", "topic", "unread", "q", "cursor", "page_size"} <= parameters
