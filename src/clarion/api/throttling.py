"""Throttles of the credential endpoints (429 with Retry-After), rates from CLARION settings.

Token, refresh and logout are throttled per client address: they are where passwords and
refresh tokens are guessed, before any user is known. Tickets are throttled per user: a
client needs one per connect, so the limit bounds a reconnect loop, not a guess. DRF keeps
the counts in Django's default cache (Redis on a scale-out deployment, so processes share them).
"""

from rest_framework.throttling import SimpleRateThrottle

from clarion.auth.client_address import client_address
from clarion.conf import clarion_settings
from clarion.projects.access import is_admin
from clarion.roles import role_of


class _ClarionRateThrottle(SimpleRateThrottle):
    setting = ""

    def get_ident(self, request):
        return client_address(request)

    def get_rate(self):
        return getattr(clarion_settings, self.setting)

    def allow_request(self, request, view):
        # The rate is read on every request, so that a changed setting applies at once.
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class AuthRateThrottle(_ClarionRateThrottle):
    """CLARION["AUTH_THROTTLE_RATE"] per client address.

    Addresses in CLARION["CONNECTION_LIMIT_EXEMPT_IPS"] (loopback by default) are not throttled:
    behind a reverse proxy that is every client's address, and one bucket for the whole site
    would let anyone lock everybody out of signing in. Set DRF's NUM_PROXIES there, so that the
    client's own address (from X-Forwarded-For) is throttled instead."""

    scope = "clarion_auth"
    setting = "AUTH_THROTTLE_RATE"

    def allow_request(self, request, view):
        from clarion.realtime.limits import is_exempt_ip

        if is_exempt_ip(self.get_ident(request)):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TicketRateThrottle(_ClarionRateThrottle):
    """CLARION["TICKET_THROTTLE_RATE"] per user (per address when anonymous)."""

    scope = "clarion_ticket"
    setting = "TICKET_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class RoomCreateRateThrottle(_ClarionRateThrottle):
    """CLARION["ROOM_CREATE_THROTTLE_RATE"] per user; administrators are not throttled.

    Every attempt counts, refused ones included: a taken key is refused with the same answer
    whoever asks, so this rate is also what bounds probing for keys that exist."""

    scope = "clarion_room_create"
    setting = "ROOM_CREATE_THROTTLE_RATE"

    def allow_request(self, request, view):
        if is_admin(request.user, role_of(request.user)):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}
