"""The REST API as a client meets it: status codes, field errors, visibility."""

import pytest
from rest_framework.test import APIClient

import clarion
from clarion.auth.tokens import access_token_for
from clarion.notifications.models import Notification
from clarion.realtime import runtime

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def serving():
    runtime.mark_serving()


def client_for(user=None):
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


def test_token_pair_for_right_credentials_and_401_for_wrong(people):
    client = APIClient()
    ok = client.post("/api/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json")
    assert ok.status_code == 200 and {"access", "refresh"} <= set(ok.json())
    wrong = client.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert wrong.status_code == 401
    refreshed = client.post("/api/auth/token/refresh/", {"refresh": ok.json()["refresh"]}, format="json")
    assert refreshed.status_code == 200 and "access" in refreshed.json()
    listed = client_for().get("/api/notifications/", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert listed.status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/notifications/"),
        ("post", "/api/notifications/"),
        ("get", "/api/notifications/1/"),
        ("post", "/api/notifications/1/read/"),
        ("post", "/api/notifications/read-all/"),
        ("get", "/api/notifications/unread-count/"),
        ("post", "/api/auth/ticket/"),
        ("get", "/api/me/"),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer not-a-jwt", "Basic YTpi"])
def test_every_endpoint_answers_401_with_www_authenticate_without_valid_credentials(people, method, path, auth):
    client = APIClient()
    if auth:
        client.credentials(HTTP_AUTHORIZATION=auth)
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_list_is_the_callers_notifications_newest_first_with_cursor_pages(people):
    alice = people["alice"]
    for i in range(25):
        clarion.send_notification_to_user(alice, f"personal {i}")
    clarion.send_notification_to_role("student", "students")
    clarion.send_notification_to_role("advisor", "advisors")
    clarion.send_notification_to_user(people["bob"], "bob's")
    clarion.send_notification_to_all("everyone")
    client = client_for(alice)
    first = client.get("/api/notifications/").json()
    assert [n["title"] for n in first["results"][:3]] == ["everyone", "students", "personal 24"]
    assert len(first["results"]) == 20 and first["next"]
    second = client.get(first["next"]).json()
    titles = [n["title"] for n in first["results"] + second["results"]]
    assert len(titles) == 27 and "advisors" not in titles and "bob's" not in titles
    item = first["results"][0]
    assert set(item) >= {"id", "title", "message", "notification_type", "recipient_type", "recipient_id",
                         "created_at", "is_read", "link", "data"}


def test_unread_filter_count_read_and_read_all(people):
    alice = people["alice"]
    a = clarion.send_notification_to_user(alice, "a")
    clarion.send_notification_to_all("b")
    client = client_for(alice)
    assert client.get("/api/notifications/unread-count/").json() == {"unread_count": 2, "unseen_count": 2}
    response = client.post(f"/api/notifications/{a.pk}/read/")
    assert response.status_code == 200 and response.json() == {"ids": [a.pk], "unread_count": 1, "unseen_count": 1}
    assert [n["title"] for n in client.get("/api/notifications/?unread=true").json()["results"]] == ["b"]
    assert client.post("/api/notifications/read-all/").json()["unread_count"] == 0
    assert client.get("/api/notifications/?unread=true").json()["results"] == []
    assert client.get("/api/notifications/unread-count/").json() == {"unread_count": 0, "unseen_count": 0}


def test_a_notification_the_caller_cannot_see_is_404_not_403(people):
    secret = clarion.send_notification_to_user(people["bob"], "bob only")
    advisors = clarion.send_notification_to_role("advisor", "advisors only")
    client = client_for(people["alice"])
    for notification in (secret, advisors):
        assert client.post(f"/api/notifications/{notification.pk}/read/").status_code == 404
        assert client.get(f"/api/notifications/{notification.pk}/").status_code == 404
    assert client.post("/api/notifications/999999/read/").status_code == 404
    assert client.post("/api/notifications/abc/read/").status_code == 404


def test_admins_create_with_201_and_others_get_403(people):
    body = {"title": "Deadline moved", "message": "to Monday", "recipient_type": "role", "recipient_id": "student"}
    created = client_for(people["dave"]).post("/api/notifications/", body, format="json")
    assert created.status_code == 201
    data = created.json()
    assert data["id"] == Notification.objects.get().pk and data["title"] == "Deadline moved"
    assert data["recipient_type"] == "role" and data["is_read"] is False
    for who in ("alice", "carol"):
        assert client_for(people[who]).post("/api/notifications/", body, format="json").status_code == 403
    assert Notification.objects.count() == 1


def test_django_permission_also_allows_creating(people):
    from django.contrib.auth.models import Permission

    carol = people["carol"]
    carol.user_permissions.add(Permission.objects.get(codename="add_notification"))
    body = {"title": "From a permitted advisor", "recipient_type": "all"}
    assert client_for(carol).post("/api/notifications/", body, format="json").status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": "x", "recipient_type": "user", "recipient_id": "987654"}, "recipient_id"),
        ({"title": "x", "recipient_type": "user", "recipient_id": "alice"}, "recipient_id"),
        ({"title": "x", "recipient_type": "role", "recipient_id": "janitor"}, "recipient_id"),
        ({"title": "x", "recipient_type": "all", "recipient_id": "3"}, "recipient_id"),
        ({"title": "x", "recipient_type": "group"}, "recipient_type"),
        ({"recipient_type": "all"}, "title"),
        ({"title": "x", "recipient_type": "all", "notification_type": "panic"}, "notification_type"),
        ({"title": "x", "recipient_type": "all", "data": "nope"}, "data"),
    ],
)
def test_invalid_create_is_400_with_a_field_error(people, body, field):
    response = client_for(people["dave"]).post("/api/notifications/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Notification.objects.count() == 0


def test_user_recipient_by_id(people):
    body = {"title": "hi", "recipient_type": "user", "recipient_id": str(people["bob"].pk)}
    assert client_for(people["dave"]).post("/api/notifications/", body, format="json").status_code == 201
    assert [n["title"] for n in client_for(people["bob"]).get("/api/notifications/").json()["results"]] == ["hi"]
    assert client_for(people["alice"]).get("/api/notifications/").json()["results"] == []


def test_ticket_and_me(people):
    client = client_for(people["carol"])
    ticket = client.post("/api/auth/ticket/")
    assert ticket.status_code == 201 and ticket.json()["expires_in"] > 0 and len(ticket.json()["ticket"]) > 30
    me = client.get("/api/me/").json()
    assert me["username"] == "carol" and me["role"] == "advisor" and me["can_send"] is False


def test_openapi_schema_and_docs_page():
    schema = APIClient().get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/notifications/", "/api/notifications/{id}/read/", "/api/notifications/read-all/",
                 "/api/notifications/unread-count/", "/api/auth/token/", "/api/auth/ticket/"):
        assert path in text
    docs = APIClient().get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
