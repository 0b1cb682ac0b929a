"""Deeply nested JSON is refused with a 400 or an error frame, never a 500 or internal_error
(issue 10, finding 7): DRF's parser and the web UI's sign-in recursed into RecursionError, and a
cursor position nested 254 deep decoded fine but could not be encoded into the outgoing frame."""

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings
from rest_framework.test import APIClient

from clarion.auth.tokens import access_token_for
from clarion.protocol.json_limits import MAX_JSON_DEPTH
from tests.security.conftest import communicator, token

pytestmark = pytest.mark.django_db(transaction=True)


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


UNAUTHENTICATED = ["/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/logout/"]


@pytest.fixture(autouse=True)
def no_auth_throttle():
    with override_settings(CLARION={**django_settings.CLARION, "AUTH_THROTTLE_RATE": None}):
        yield


@pytest.mark.parametrize("path", UNAUTHENTICATED)
@pytest.mark.parametrize("body", [nested(5000), deep_list(5000), '{"refresh": ' + deep_list(300) + "}"])
def test_a_body_nested_thousands_deep_gets_400_without_login(path, body):
    response = APIClient().post(path, body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("body", [nested(5000), deep_list(5000)])
def test_the_web_ui_sign_in_answers_400_to_deep_json(body):
    response = Client().post("/ui/session/", body, content_type="application/json")
    assert response.status_code == 400 and "JSON object" in response.json()["detail"]


@pytest.mark.parametrize("body", ["[]", '"alice"', "1", "null", "{", '{"username": NaN}', b"\xff\xfe"])
def test_the_web_ui_sign_in_answers_400_to_a_body_that_is_not_a_json_object(body):
    response = Client().post("/ui/session/", body, content_type="application/json")
    assert response.status_code == 400


def test_data_just_past_the_limit_gets_the_field_error_of_the_validators(people):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['dave'])}")
    body = ('{"recipient_type": "user", "recipient_id": %d, "title": "t", "notification_type": "info", "data": %s}'
            % (people["alice"].pk, nested(MAX_JSON_DEPTH + 1)))
    refused = client.post("/api/notifications/", body, content_type="application/json")
    assert refused.status_code == 400 and list(refused.json()) == ["data"]  # a field error, not a parse error


async def test_a_cursor_position_nested_254_deep_gets_an_error_frame_and_the_socket_lives(people, streams):
    ws = communicator(streams["collaboration"], f"token={await token(people['alice'])}")
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=3)  # room_snapshot
    await ws.send_to(text_data='{"type": "cursor", "data": {"position": ' + nested(254) + "}}")
    while True:
        frame = await ws.receive_json_from(timeout=3)
        if frame["type"] not in ("presence", "cursor", "typing"):
            break
    assert frame["type"] == "error" and frame["data"]["code"] in ("invalid_json", "invalid_data"), frame
    await ws.send_json_to({"type": "ping"})
    while (frame := await ws.receive_json_from(timeout=3))["type"] in ("presence", "cursor", "typing"):
        pass
    assert frame["type"] == "pong"
    await ws.disconnect()
