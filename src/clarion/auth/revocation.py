"""Ending a user's sessions: logout, password change, deactivation, deletion.

Access tokens are stateless, so "ending a session" needs a record: a per-user cutoff
(SessionCutoff). Credentials issued before it are refused at every later connect (and by
clarion.auth.authentication on REST); the sockets already open are told through a control
event on the user's sessions group, and each closes with 4401 when it was authenticated
before the cutoff (clarion.realtime.consumers.base). docs/security.md, "Ending sessions".

The event goes to two groups: the user's notification group, which their notifications
sockets are in already, and the user's sessions group, which every other stream (projects,
rooms, system health) joins for this alone: they must not receive notification frames, and the
notifications sockets, the common case, subscribe to no extra group.
"""

import logging
import time

from django.db import transaction

from clarion.auth.models import SessionCutoff
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


def close_sockets(user_id, at: float | None = None) -> None:
    """After commit, close every socket of this user authenticated before ``at`` (default:
    now), on every server process."""
    from clarion.realtime.publish import publish_control_on_commit

    event = {"action": END_SESSIONS, "user_id": str(user_id), "at": time.time() if at is None else at}
    publish_control_on_commit(user_group(user_id), event)
    publish_control_on_commit(sessions_group(user_id), event)
