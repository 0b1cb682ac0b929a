import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from clarion.conf import clarion_settings


def home(request):
    """A small live page: log in, watch notifications arrive, mark them read."""
    return render(request, "clarion/home.html", {"debug": settings.DEBUG})


def metrics_client_allowed(remote_addr) -> bool:
    """Is the peer address in CLARION["METRICS_ALLOWED_IPS"] (addresses or networks)?"""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    for entry in clarion_settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # reported by the clarion.E003 system check
            continue
    return False


def metrics_token_ok(authorization) -> bool:
    """No CLARION["METRICS_TOKEN"] configured, or ``Authorization: Bearer <that token>``."""
    token = clarion_settings.METRICS_TOKEN
    if not token:
        return True
    if not authorization or authorization[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), token.encode())


def metrics_view(request):
    """Prometheus metrics: this process's counters and the cluster's health gauges.

    Metrics reveal traffic volume and the topology: answered only to CLARION["METRICS_ALLOWED_IPS"]
    (403 otherwise) and, when CLARION["METRICS_TOKEN"] is set, only with that Bearer token (401).
    """
    if not metrics_client_allowed(request.META.get("REMOTE_ADDR")):
        return HttpResponse("403 Forbidden: this address may not read /metrics\n", status=403,
                            content_type="text/plain; charset=utf-8")
    if not metrics_token_ok(request.headers.get("Authorization")):
        response = HttpResponse("401 Unauthorized: send Authorization: Bearer <metrics token>\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
