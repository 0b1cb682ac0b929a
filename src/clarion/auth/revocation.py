"""Ending a user's sessions: logout, password change, deactivation, deletion.

Access tokens are stateless, so "ending a session" needs a record: a per-user cutoff
(SessionCutoff). Credentials issued before it are refused at every later connect (and by
clarion.auth.authentication on REST); the sockets already open are told through a control
event on the user's sessions group, and each closes with 4401 when it was authenticated
before the cutoff (clarion.realtime.consumers.base). docs/security.md, "Ending sessions".

Signing out of one web UI session ends less: only the access tokens minted from it (their "sid"
claim, recorded in EndedUISession) and the sockets they or its tickets opened; the same event
carries the session's id, and only sockets of that session close (end_ui_session).

The event goes to two groups: the user's notification group, which their notifications
sockets are in already, and the user's sessions group, which every other stream (projects,
rooms, system health) joins for this alone: they must not receive notification frames, and the
notifications sockets, the common case, subscribe to no extra group.
"""

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from clarion.auth.models import EndedUISession, SessionCutoff
from clarion.auth.tickets import discard_tickets

logger = logging.getLogger("clarion.auth")

END_SESSIONS = "end_sessions"


def user_group(user_id) -> str:
    from clarion.realtime import groups

    return groups.user_group(user_id)


def sessions_group(user_id) -> str:
    """The hub group a socket of this user that is not in their notification group joins,
    for control events only."""
    return "clarion.sessions." + user_group(user_id).removeprefix("clarion.user.")


def end_sessions(user, reason: str) -> None:
    """Refuse the user's current credentials from now on and close their open sockets.

    ``reason`` is for the log only ("logout", "password_changed", "deactivated", "deleted");
    the sockets all close with the same 4401."""
    at = time.time()
    with transaction.atomic():
        SessionCutoff.objects.update_or_create(user_id=user.pk, defaults={"not_before": int(at)})
        discard_tickets(user)
    close_sockets(user.pk, at)
    logger.info("ended the sessions of user %s (%s)", user.pk, reason)


def end_ui_session(user, sid: str) -> None:
    """Refuse the access tokens and tickets of one web UI session from now on and close the
    sockets they opened; the user's other sessions are untouched."""
    if not sid:
        return
    now = timezone.now()
    # Every token minted from the session has expired by then (a minute of margin for clocks).
    forget_after = now + AccessToken.lifetime + timedelta(minutes=1)
    with transaction.atomic():
        EndedUISession.objects.filter(forget_after__lt=now).delete()
        EndedUISession.objects.update_or_create(sid=sid, defaults={"forget_after": forget_after})
        discard_tickets(user, ui_session=sid)
    close_sockets(user.pk, ui_session=sid)
    logger.info("ended a web UI session of user %s (sign-out)", user.pk)


def close_sockets(user_id, at: float | None = None, ui_session: str = "") -> None:
    """After commit, close every socket of this user authenticated before ``at`` (default:
    now), on every server process; with ``ui_session``, only the sockets of that web UI session,
    whenever they were opened."""
    from clarion.realtime.publish import publish_control_on_commit

    event = {"action": END_SESSIONS, "user_id": str(user_id), "at": time.time() if at is None else at}
    if ui_session:
        event["ui_session"] = ui_session
    publish_control_on_commit(user_group(user_id), event)
    publish_control_on_commit(sessions_group(user_id), event)
