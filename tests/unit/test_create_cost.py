"""What one REST create costs the server in SQL (issue 11, "a cheap create").

The test database transaction never commits here, so the push (which runs on commit) is not
counted: these are the queries of the request itself.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clarion.auth.tokens import access_token_for
from clarion.notifications.models import Notification

pytestmark = pytest.mark.django_db

# The user (with role and session cutoff, one query), the recipient's existence, the insert.
MAX_CREATE_QUERIES = 3


def post_as(user, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/notifications/", body, format="json")
    return response, [q["sql"] for q in captured.captured_queries]


def test_a_personal_create_by_an_admin_costs_at_most_three_queries_and_none_for_permissions(people):
    body = {"title": "t", "recipient_type": "user", "recipient_id": str(people["alice"].pk)}
    response, queries = post_as(people["dave"], body)
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "t" and response.json()["recipient_id"] == str(people["alice"].pk)
    assert len(queries) <= MAX_CREATE_QUERIES, "\n".join(queries)
    assert not [q for q in queries if "auth_permission" in q]


def test_a_non_admin_is_still_refused_with_403_and_nothing_is_created(people):
    body = {"title": "t", "recipient_type": "user", "recipient_id": str(people["bob"].pk)}
    response, _ = post_as(people["alice"], body)
    assert response.status_code == 403
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)  # the warm-up reads from a thread of its own
def test_the_start_up_warm_up_writes_nothing_and_leaves_the_api_built_and_the_heap_frozen(people):
    import gc
    import sys

    from clarion.server import warmup

    before = Notification.objects.count()
    try:
        assert warmup.warm() == []
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert Notification.objects.count() == before
    assert "clarion.api.views" in sys.modules and "rest_framework_simplejwt.authentication" in sys.modules
