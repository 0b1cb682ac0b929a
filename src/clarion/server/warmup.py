"""Start-up warm-up: build what the first request would, then freeze the start-up heap.

The first create after start-up cost 0.25-0.57 s (issue 11): importing the URLconf (DRF,
drf-spectacular, and psycopg through DRF's compat module: 0.39 s of it), DRF's and
simplejwt's lazily built pieces, the first ORM queries' model metadata, and then one full
garbage collection walking every object start-up left behind. ``warm()`` pays for the first
part before the server listens and ``gc.freeze()`` takes the start-up objects out of the
collector's walks for good.

Nothing here writes: the request it makes is refused (401: the token names no user) before
any view logic, and each step that fails is skipped, since warming is an optimisation that
must never stop a server from starting.
"""

import gc
import io
import logging
import threading

logger = logging.getLogger("clarion.server")

# A user id no default (auto-increment) primary key takes, so the warm request is refused.
NO_USER = 0


def warm() -> list[str]:
    """Warm the request path, then move every object alive now to gc's permanent generation.

    Returns the names of the steps that failed (logged at debug level; normally none). Runs
    the warm-up in a thread of its own: the standalone server imports its ASGI app inside
    uvicorn's running event loop, where Django refuses database work.
    """
    failed: list[str] = []
    thread = threading.Thread(target=_warm_request_path, args=(failed,), name="clarion-warmup", daemon=True)
    thread.start()
    thread.join()
    gc.collect()
    gc.freeze()
    return failed


def _warm_request_path(failed: list[str]) -> None:
    from django.db import connections

    try:
        for step in (_refused_create, _serializers, _recipient_check):
            try:
                step()
            except Exception:  # noqa: BLE001  a warm-up failure costs the first request, nothing more
                logger.debug("warm-up step %s failed", step.__name__, exc_info=True)
                failed.append(step.__name__)
    finally:
        connections.close_all()  # this thread's connections (back to the pool on PostgreSQL)


def _refused_create() -> None:
    """POST /api/notifications/ through the URLconf, the DRF view, JWT verification and the
    user query, with a signed token for no user: answered 401, and rendered."""
    from django.core.handlers.wsgi import WSGIRequest
    from django.urls import resolve
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token[api_settings.USER_ID_CLAIM] = NO_USER
    body = b"{}"
    path = "/api/notifications/"
    request = WSGIRequest({
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "HTTP_HOST": "localhost", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Bearer {token}",
    })
    match = resolve(path)
    response = match.func(request, *match.args, **match.kwargs)
    response.render()
    if response.status_code != 401:
        raise RuntimeError(f"the warm-up request was answered {response.status_code}, expected 401")


def _serializers() -> None:
    """The create serializer's fields and validation, the payload builder and the renderer."""
    from django.utils import timezone
    from rest_framework.renderers import JSONRenderer

    from clarion.api.serializers import NotificationCreateSerializer
    from clarion.notifications.models import Notification
    from clarion.notifications.payloads import notification_payload

    serializer = NotificationCreateSerializer(data={"title": "warm-up", "recipient_type": "all"})
    serializer.is_valid()
    unsaved = Notification(title="warm-up", recipient_type="all", created_at=timezone.now())
    JSONRenderer().render(notification_payload(unsaved, is_read=False))


def _recipient_check() -> None:
    """The recipient's existence query (no user has id 0: a ValidationError, expected)."""
    from django.core.exceptions import ValidationError

    from clarion.notifications.models import RecipientType
    from clarion.notifications.services import resolve_recipient

    try:
        resolve_recipient(RecipientType.USER, NO_USER)
    except ValidationError:
        pass
