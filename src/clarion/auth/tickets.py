"""Connect tickets: short-lived, single-use credentials for opening a socket.

Why: a JWT in ``?token=`` ends up in proxy and server access logs and browser history, and
stays valid for its whole lifetime. A ticket is useless seconds after it is issued and after
its first use, and is bound to the page origin that asked for it (websockets' authentication
guide weighs the same options). The database stores only its SHA-256.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from clarion.auth.models import ConnectTicket
from clarion.auth.tokens import AuthenticationFailed
from clarion.conf import clarion_settings


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(user, origin: str = "") -> tuple[str, int]:
    """Return (ticket, seconds it stays valid)."""
    ttl = int(clarion_settings.TICKET_TTL)
    ticket = secrets.token_urlsafe(32)
    now = timezone.now()
    ConnectTicket.objects.filter(expires_at__lt=now - timedelta(minutes=5)).delete()
    ConnectTicket.objects.create(
        key_hash=_hash(ticket), user=user, origin=origin or "", expires_at=now + timedelta(seconds=ttl)
    )
    return ticket, ttl


def redeem_ticket(ticket: str, origin: str | None):
    """Consume a ticket and return its user; of two parallel redemptions exactly one wins."""
    if not ticket or len(ticket) > 200:
        raise AuthenticationFailed()
    key = _hash(ticket)
    with transaction.atomic():
        # The conditional UPDATE is the claim: the database lets only one writer flip used.
        claimed = ConnectTicket.objects.filter(key_hash=key, used=False, expires_at__gt=timezone.now()).update(used=True)
        if claimed != 1:
            raise AuthenticationFailed()
        record = ConnectTicket.objects.select_related("user").get(key_hash=key)
    if record.origin and record.origin != (origin or ""):
        raise AuthenticationFailed()
    if not record.user.is_active:
        raise AuthenticationFailed()
    return record.user
