"""Notifications in the reader's language: templates rendered from the gettext catalogues that
ship with Clarion, per reader (preference, resolver, site), refused when unknown or unfilled."""

import pytest
from django.utils import translation

import clarion
from clarion.notifications import messages
from clarion.notifications.models import Notification

from tests.unit.test_api import client_for, serving  # noqa: F401  (serving: autouse)

pytestmark = pytest.mark.django_db(transaction=True)

PARAMS = {"project": "Thesis", "status": "Defense", "old": "proposal", "new": "defense",
          "author": "bob", "excerpt": "hi", "title": "Chapter 1"}




@pytest.mark.parametrize("key", messages.keys())
def test_every_notification_clarion_creates_has_thai_and_english(key):
    english = messages.render(key, PARAMS, "en")
    thai = messages.render(key, PARAMS, "th")
    assert english[0] and thai[0] and thai[0] != english[0], (key, thai)
    assert "Thesis" in thai[0]
    if messages.get(key).message:
        assert thai[1] and thai[1] != english[1] or key == "project.comment"
    if messages.get(key).group_summary:
        assert messages.summary(key, PARAMS, 3, "en").startswith("3 new ")
        assert "3" in messages.summary(key, PARAMS, 3, "th") and messages.summary(key, PARAMS, 3, "th") != \
            messages.summary(key, PARAMS, 3, "en")


def test_a_missing_translation_falls_back_to_english():
    messages.register("test.untranslated", "Only in English for %(who)s")
    assert messages.render("test.untranslated", {"who": "you"}, "th") == ("Only in English for you", "")


def test_unknown_templates_and_unfilled_params_are_refused_by_rest_and_python(people):
    admin = client_for(people["dave"])
    unknown = admin.post("/api/notifications/", {"template": "nope", "recipient_type": "all"}, format="json")
    assert unknown.status_code == 400 and "template" in unknown.json()
    unfilled = admin.post("/api/notifications/", {"template": "project.status_changed", "params": {"project": "X"},
                                                  "recipient_type": "all"}, format="json")
    assert unfilled.status_code == 400 and "params" in unfilled.json()
    untitled = admin.post("/api/notifications/", {"recipient_type": "all"}, format="json")
    assert untitled.status_code == 400 and "title" in untitled.json()
    with pytest.raises(ValueError):
        clarion.send_notification_to_all(template="nope")
    assert not Notification.objects.exists()


def test_each_reader_gets_the_list_in_their_language_and_the_stored_text_is_the_sites(people, settings):
    created = client_for(people["dave"]).post("/api/notifications/", {
        "template": "project.status_changed", "params": PARAMS, "recipient_type": "role", "recipient_id": "student"},
        format="json")
    assert created.status_code == 201 and created.json()["title"] == "“Thesis” is now Defense"
    alice, bob = client_for(people["alice"]), client_for(people["bob"])
    assert alice.patch("/api/preferences/", {"locale": "th"}, format="json").status_code == 200
    assert alice.get("/api/notifications/").json()["results"][0]["title"] == "โครงงาน “Thesis” อยู่ในสถานะ Defense แล้ว"
    assert bob.get("/api/notifications/").json()["results"][0]["title"] == "“Thesis” is now Defense"
    assert Notification.objects.get().title == "“Thesis” is now Defense"  # search and old clients
    # no preference: the site's resolver decides, then the site's language
    settings.CLARION = {**settings.CLARION, "LOCALE_RESOLVER": lambda user: "th" if user.username == "bob" else None}
    assert bob.get("/api/notifications/").json()["results"][0]["title"].startswith("โครงงาน")
    assert client_for(people["carol"]).get("/api/notifications/").json()["results"] == []
    with translation.override("en"):
        assert messages.locale_of(people["carol"]) == "en"
