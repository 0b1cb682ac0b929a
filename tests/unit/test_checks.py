"""Start-up checks (manage.py check) for what would otherwise fail at the first socket or the
first send, or silently (issue 12): role names, admin roles, import paths, whether the ASGI
application serves Clarion's sockets; and what a resolver answering an unlisted role does."""

import logging

import pytest
from django.core import checks
from django.test import override_settings
from rest_framework.test import APIClient

from clarion import checks as clarion_checks
from clarion import roles as clarion_roles
from clarion.auth.tokens import access_token_for
from clarion.notifications.models import Notification
from clarion.notifications.services import send_notification_to_role

NEW_IDS = {"clarion.E008", "clarion.E009", "clarion.E010", "clarion.W002"}


def ids(**settings):
    with override_settings(**settings):
        return {message.id for message in checks.run_checks()}


def messages(check, **settings):
    with override_settings(**settings):
        return check(None)


def test_a_correct_host_configuration_raises_none_of_them():
    assert not ids(CLARION={"ROLES": ["member", "editor", "manager"], "ADMIN_ROLES": ["manager"],
                            "ROLE_RESOLVER": "clarion.roles.assigned_role"},
                   ASGI_APPLICATION="tests.unit.asgi_fixtures.routed.application") & NEW_IDS


@pytest.mark.parametrize("roles", [["member", "Project Lead"], ["member", ""], ["a" * 65], ["member", 7],
                                   ["member", "member"], "member"])
def test_role_names_that_cannot_be_roles_are_errors(roles):
    found = messages(clarion_checks.check_roles, CLARION={"ROLES": roles, "ADMIN_ROLES": []})
    assert [m.id for m in found] and {m.id for m in found} == {"clarion.E008"}, found
    assert all(m.hint for m in found)


def test_admin_roles_outside_roles_are_an_error_naming_them():
    found = messages(clarion_checks.check_roles, CLARION={"ROLES": ["member", "manager"], "ADMIN_ROLES": ["admin"]})
    assert [m.id for m in found] == ["clarion.E009"] and "'admin'" in found[0].msg


@pytest.mark.parametrize("name, path", [("ROLE_RESOLVER", "campus.roles.nope"),
                                         ("ROLE_RESOLVER", "clarion.roles.no_such_function"),
                                         ("ROLE_RESOLVER", "clarion.conf.DEFAULTS"),
                                         ("BROKER", "clarion.realtime.broker_nowhere.Broker")])
def test_an_import_path_that_does_not_import_or_call_is_an_error(name, path):
    found = messages(clarion_checks.check_import_paths, CLARION={name: path})
    assert [m.id for m in found] == ["clarion.E010"] and path in found[0].msg


def test_no_asgi_application_is_a_warning_saying_sockets_are_not_served():
    found = messages(clarion_checks.check_sockets_are_served, ASGI_APPLICATION=None)
    assert [m.id for m in found] == ["clarion.W002"] and "runserver" in found[0].hint


@pytest.mark.parametrize("module", ["http_only", "other_routes", "missing_module"])
def test_an_asgi_application_that_does_not_route_the_sockets_is_a_warning(module):
    found = messages(clarion_checks.check_sockets_are_served,
                     ASGI_APPLICATION=f"tests.unit.asgi_fixtures.{module}.application")
    assert [m.id for m in found] == ["clarion.W002"]


@pytest.mark.parametrize("module", ["routed", "nested"])
def test_an_asgi_application_routing_the_sockets_passes(module):
    assert not messages(clarion_checks.check_sockets_are_served,
                        ASGI_APPLICATION=f"tests.unit.asgi_fixtures.{module}.application")


# -- an unlisted role ---------------------------------------------------------------------------


def resolve_to_member(user):
    return "member"


@pytest.mark.django_db
def test_a_resolver_answering_an_unlisted_role_is_warned_about_once_per_value(people, caplog):
    clarion_roles._warned_roles.clear()
    with override_settings(CLARION={"ROLE_RESOLVER": "tests.unit.test_checks.resolve_to_member"}):
        with caplog.at_level(logging.WARNING, logger="clarion.roles"):
            assert clarion_roles.role_of(people["alice"]) is None
            assert clarion_roles.role_of(people["bob"]) is None
    warnings = [r for r in caplog.records if r.name == "clarion.roles"]
    assert len(warnings) == 1
    assert "'member'" in warnings[0].getMessage() and "CLARION['ROLES']" in warnings[0].getMessage()


@pytest.mark.django_db
def test_an_unknown_role_is_refused_before_anything_is_stored(people):
    from django.core.exceptions import ValidationError

    before = Notification.objects.count()
    with pytest.raises(ValidationError) as refused:
        send_notification_to_role("member", "Hello")
    assert "recipient_id" in refused.value.message_dict
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(people['dave'])}")
    response = client.post("/api/notifications/", {"title": "t", "recipient_type": "role", "recipient_id": "member"},
                           format="json")
    assert response.status_code == 400 and "recipient_id" in response.json()
    bulk = client.post("/api/notifications/bulk/", {"notifications": [
        {"title": "ok", "recipient_type": "role", "recipient_id": "student"},
        {"title": "t", "recipient_type": "role", "recipient_id": "member"}]}, format="json")
    assert bulk.status_code == 400 and "1" in str(bulk.json()) and "recipient_id" in str(bulk.json())
    assert Notification.objects.count() == before
