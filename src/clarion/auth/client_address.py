"""The address a credential request came from, as the sign-in throttle and lockout see it."""

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """REMOTE_ADDR unless DRF's NUM_PROXIES is set, then the client's own address from
    X-Forwarded-For: DRF trusts that header whole when NUM_PROXIES is unset, so a client could
    name a new address per request."""
    if request is None:
        return "unknown"
    if api_settings.NUM_PROXIES is None:
        return request.META.get("REMOTE_ADDR") or "unknown"
    return BaseThrottle().get_ident(request)
