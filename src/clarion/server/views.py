import hmac
import ipaddress
import json
import logging
import math
from pathlib import Path

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from clarion.api.parsers import loads_body
from clarion.api.throttling import AuthRateThrottle
from clarion.auth import lockout, ui_sessions
from clarion.conf import clarion_settings
from clarion.roles import is_notification_admin, role_of

logger = logging.getLogger("clarion.server")

# -- the web UI (clients/web, built into static/clarion-ui/) ------------------------------------

UI_DIR = Path(__file__).resolve().parent / "static" / "clarion-ui"
# Beside src/ in a checkout (an editable install): there the UI can be built where it is served.
CHECKOUT_BUILD_SCRIPT = Path(__file__).resolve().parents[3] / "clients" / "web" / "scripts" / "ensure-built.sh"


def ui_build_advice() -> dict:
    """What to do about a missing UI, for how this Clarion was installed: from a checkout, build
    it in place; from a wheel or sdist without it, install one that carries it (README.md,
    "Building a wheel"), since such an install has no clients/web to run npm in."""
    if CHECKOUT_BUILD_SCRIPT.is_file():
        return {"from_checkout": True, "command": f"bash {CHECKOUT_BUILD_SCRIPT}"}
    return {"from_checkout": False, "command": "bash scripts/build-dist.sh"}


_manifest_cache: dict = {}


def ui_assets() -> dict | None:
    """The built UI's file names ({"app.js": ..., "app.css": ...}), or None when it is not built.

    Read from manifest.json, again only when that file changed (a rebuild while the server runs).
    """
    path = UI_DIR / "manifest.json"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    if _manifest_cache.get("mtime") != mtime:
        try:
            manifest = json.loads(path.read_text())
            assets = {"js": manifest["app.js"], "css": manifest["app.css"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        _manifest_cache.update(mtime=mtime, assets=assets)
    return _manifest_cache["assets"]


def _content_security_policy(request) -> str:
    host = request.get_host()
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' ws://{host} wss://{host}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


@ensure_csrf_cookie
def ui_page(request, **route):
    """Every page of the web UI: one HTML shell, the script draws the page the path names.

    Without a built UI (a Python-only install), a 503 page says how to build it.
    """
    assets = ui_assets()
    if assets is None:
        advice = ui_build_advice()
        if not _manifest_cache.get("warned"):
            if advice["from_checkout"]:
                logger.warning("the web UI is not built (no %s); build it with: %s", UI_DIR / "manifest.json",
                               advice["command"])
            else:
                logger.warning("this installation of Clarion has no web UI (no %s); install a wheel built with "
                               "`%s` in a Clarion checkout (README.md, \"Building a wheel\")",
                               UI_DIR / "manifest.json", advice["command"])
            _manifest_cache["warned"] = True
        response = render(request, "clarion/ui_missing.html", advice, status=503)
    else:
        # Whether a session exists: a signed-out visit goes straight to the sign-in form.
        config = {"debug": settings.DEBUG, "signedIn": request.user.is_authenticated}
        response = render(request, "clarion/app.html", {
            "js": static(assets["js"]), "css": static(assets["css"]), "config": config,
        })
    # The shell names the current build's files: never cached, they are (immutable, hashed names).
    patch_cache_control(response, no_cache=True, private=True)
    response["Content-Security-Policy"] = _content_security_policy(request)
    return response


@require_http_methods(["GET", "HEAD"])
def service_worker(request):
    """The web UI's service worker (clients/web/src/sw.ts), at /sw.js so that its scope can be
    the whole site: Web Push's system notifications and their clicks (docs/delivery-push.md).

    Its name carries no hash (browsers look for a new version at the URL they registered), so it
    is never cached past a check with the server."""
    try:
        body = (UI_DIR / "sw.js").read_bytes()
    except OSError:
        return _plain(f"404 Not Found: the web UI is not built; build it with: {ui_build_advice()['command']}\n", 404)
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    # Applies to the worker itself: it talks to this site only.
    response["Content-Security-Policy"] = "default-src 'self'"
    return response


def _json_body(request) -> dict | None:
    """The body's JSON object, or None when it is not one (malformed, nested too deep, not an
    object): the REST API's depth-limited parsing, so no body can reach a RecursionError."""
    try:
        body = loads_body(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


SIGNED_IN_AT = ui_sessions.SIGNED_IN_AT


@require_http_methods(["POST", "DELETE"])
def ui_session(request):
    """POST {"username", "password"}: sign in (a Django session cookie). DELETE: sign out, which
    also ends the access tokens this session minted and closes their sockets (clarion.auth.ui_sessions).

    The UI keeps no token in storage: the HttpOnly session cookie is the sign-in, shared by the
    browser's tabs, and ui_token turns it into a short-lived access token for the API and sockets.
    CSRF-protected like every unsafe request. Sign-in attempts count against the same
    per-address budget as POST /api/auth/token/ (CLARION["AUTH_THROTTLE_RATE"]) and the same
    per-account lockout (clarion.auth.lockout), so this is no way around either.
    """
    if request.method == "DELETE":
        ui_sessions.end(request.user, request.session)
        logout(request)
        return HttpResponse(status=204)
    throttle = AuthRateThrottle()
    if not throttle.allow_request(request, None):
        wait = math.ceil(throttle.wait() or 1)
        response = JsonResponse({"detail": f"Too many sign-in attempts; try again in {wait} s."}, status=429)
        response["Retry-After"] = str(wait)
        return response
    body = _json_body(request)
    if body is None:
        return JsonResponse({"detail": "Send a JSON object: {\"username\": ..., \"password\": ...}."}, status=400)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        return JsonResponse({"detail": "Enter a username and a password."}, status=400)
    try:
        lockout.check(username)
    except lockout.Locked as locked:
        response = JsonResponse({"detail": locked.message}, status=429)
        response["Retry-After"] = str(locked.retry_after)
        return response
    user = authenticate(request, username=username, password=password)  # a failure is counted by its signal
    if user is None:
        return JsonResponse({"detail": "Wrong username or password."}, status=401)
    login(request, user)  # resets the count (user_logged_in)
    ui_sessions.begin(request.session)
    return JsonResponse({"username": user.get_username()})


@require_http_methods(["POST"])
def ui_token(request):
    """An access token (simplejwt, ACCESS_TOKEN_LIFETIME) for the signed-in session, else 401;
    it carries the session's id, so signing out ends it.

    A session that began before the user's sessions were ended (logout through the API, see
    clarion.auth.revocation) is over too: it is signed out here. (A password change or
    deactivation already ends Django sessions by itself.)
    """
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return JsonResponse({"detail": "Not signed in."}, status=401)
    if ui_sessions.outlived(user, request.session):
        logout(request)
        return JsonResponse({"detail": "Signed out."}, status=401)
    return JsonResponse({"access": ui_sessions.access_token(user, request.session)})


UI_DIRECTORY_LIMIT = 1000


@require_http_methods(["GET"])
def ui_users(request):
    """Users to address a notification to: notification administrators only (403 otherwise)."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Not signed in."}, status=401)
    if not is_notification_admin(request.user):
        return JsonResponse({"detail": "Only administrators may list users."}, status=403)
    users = get_user_model().objects.filter(is_active=True).order_by("username")[:UI_DIRECTORY_LIMIT]
    return JsonResponse({"results": [{"id": u.pk, "username": u.get_username(), "role": role_of(u)} for u in users]})


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
    """``Authorization: Bearer <CLARION["METRICS_TOKEN"]>``, compared in constant time."""
    token = clarion_settings.METRICS_TOKEN
    if not token or not authorization or authorization[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), token.encode())


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def metrics_view(request):
    """Prometheus metrics: this process's counters and the cluster's health gauges.

    Metrics reveal traffic volume and the topology: answered only to CLARION["METRICS_ALLOWED_IPS"]
    (403 otherwise) and only with ``Authorization: Bearer <CLARION["METRICS_TOKEN"]>`` (401).
    Without a token configured they stay closed (403) unless CLARION["METRICS_PUBLIC"] opens them:
    behind a reverse proxy on the same host every client has a loopback address, so the address
    rule alone let anyone read them (issue 10).
    """
    if not metrics_client_allowed(request.META.get("REMOTE_ADDR")):
        return _plain("403 Forbidden: this address may not read /metrics\n", 403)
    if clarion_settings.METRICS_TOKEN:
        if not metrics_token_ok(request.headers.get("Authorization")):
            response = _plain("401 Unauthorized: send Authorization: Bearer <metrics token>\n", 401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not clarion_settings.METRICS_PUBLIC:
        return _plain("403 Forbidden: /metrics is closed until a token is configured "
                      "(CLARION_METRICS_TOKEN, or CLARION[\"METRICS_TOKEN\"]); "
                      "CLARION_METRICS_PUBLIC=1 opens it without one\n", 403)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
