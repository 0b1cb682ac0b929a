"""Connect tickets: short-lived, single-use credentials for opening a socket.

Why: a JWT in ``?token=`` ends up in proxy and server access logs and browser history, and
stays valid for its whole lifetime. A ticket is useless seconds after it is issued and after
its first use, and is bound to the page origin that asked for it (websockets' authentication
guide weighs the same options). The database stores only its SHA-256.

Redeeming is one conditional UPDATE that matches the key, "unused", "not expired" and the
origin together: of two parallel uses exactly one flips ``used``, and an attempt from another
origin matches nothing, so it does not burn the ticket (docs/security.md, "Connect tickets":
burning it would let any page that learned a ticket deny the real one, and would protect
nothing, since a client that can forge Origin is not stopped by the binding anyway).
"""

import hashlib
import secrets
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clarion.auth.models import ConnectTicket
from clarion.auth.tokens import AuthenticationFailed, Credential, load_user, ui_session_ended
from clarion.conf import clarion_settings

MAX_TICKET_CHARS = 200


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(user, origin: str = "", auth_expires_at: float | None = None,
                 ui_session: str = "") -> tuple[str, int]:
    """Return (ticket, seconds it stays valid).

    ``auth_expires_at``: when the credential that asked for the ticket expires (epoch seconds);
    the socket the ticket opens is closed then, and the ticket never outlives it.
    ``ui_session``: the web UI session that credential belongs to; signing out of it discards
    the ticket and closes the socket it opened."""
    ttl = int(clarion_settings.TICKET_TTL)
    now = timezone.now()
    auth_expiry = None
    if auth_expires_at is not None:
        auth_expiry = datetime.fromtimestamp(float(auth_expires_at), tz=dt_timezone.utc)
        ttl = max(0, min(ttl, int((auth_expiry - now).total_seconds())))
    ticket = secrets.token_urlsafe(32)
    ConnectTicket.objects.filter(expires_at__lt=now - timedelta(minutes=5)).delete()
    ConnectTicket.objects.create(
        key_hash=_hash(ticket), user=user, origin=(origin or "")[:300], expires_at=now + timedelta(seconds=ttl),
        auth_expires_at=auth_expiry, ui_session=ui_session,
    )
    return ticket, ttl


def redeem_ticket_credential(ticket: str, origin: str | None) -> Credential:
    """Consume a ticket and return what it authenticates; of two parallel redemptions
    exactly one wins, and a redemption from a foreign origin consumes nothing."""
    checked_at = time.time()
    if not ticket or len(ticket) > MAX_TICKET_CHARS:
        raise AuthenticationFailed()
    key = _hash(ticket)
    origin_matches = Q(origin="") | Q(origin=origin or "")
    with transaction.atomic():
        # The conditional UPDATE is the claim: the database lets only one writer flip used.
        claimed = (ConnectTicket.objects.filter(origin_matches, key_hash=key, used=False,
                                                expires_at__gt=timezone.now()).update(used=True))
        if claimed != 1:
            raise AuthenticationFailed()
        record = ConnectTicket.objects.only("user_id", "auth_expires_at", "ui_session").get(key_hash=key)
    user = load_user(record.user_id, "pk")
    if user is None or not user.is_active:
        raise AuthenticationFailed()
    # Sign-out discards the session's tickets; this catches one issued while it was committing.
    if ui_session_ended(record.ui_session):
        raise AuthenticationFailed()
    expires_at = record.auth_expires_at.timestamp() if record.auth_expires_at else None
    return Credential(user=user, expires_at=expires_at, checked_at=checked_at, ui_session=record.ui_session)


def redeem_ticket(ticket: str, origin: str | None):
    """Consume a ticket and return its user (see redeem_ticket_credential)."""
    return redeem_ticket_credential(ticket, origin).user


def discard_tickets(user, ui_session: str = "") -> None:
    """Unused tickets of this user (of this web UI session only, when one is named) stop working
    (their sessions ended)."""
    tickets = ConnectTicket.objects.filter(user=user, used=False)
    if ui_session:
        tickets = tickets.filter(ui_session=ui_session)
    tickets.update(used=True)
