"""The API's documentation pages (Swagger UI, ReDoc), locked down like the web UI's pages.

drf-spectacular's own views sent no Content-Security-Policy and no X-Frame-Options, so any site
could frame them, and its ReDoc page loads Google Fonts (issue 10). Here Swagger UI's start
script comes from the same URL (drf-spectacular's split view) instead of an inline script,
ReDoc's page has no font links, and an inline script that settings may add (REDOC_UI_SETTINGS)
runs only with the response's nonce. With the sidecar settings (SWAGGER_UI_DIST = REDOC_DIST =
SWAGGER_UI_FAVICON_HREF = "SIDECAR", the standalone server's) the pages load nothing but this
server's own static files; a site that keeps drf-spectacular's CDN gets that CDN allowed, and
nothing else. Inline styles stay allowed: both bundles insert <style> elements at run time.
"""

import secrets
from urllib.parse import urlsplit

from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


def _dist_origins() -> str:
    """The origins of SWAGGER_UI_DIST, REDOC_DIST and the favicon when a site serves them from a
    CDN instead of the sidecar ("SIDECAR", the standalone server's setting): "" then."""
    origins = []
    for value in (spectacular_settings.SWAGGER_UI_DIST, spectacular_settings.REDOC_DIST,
                  spectacular_settings.SWAGGER_UI_FAVICON_HREF):
        parts = urlsplit(value or "")
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return "".join(f" {origin}" for origin in origins)


def docs_content_security_policy(nonce: str) -> str:
    cdn = _dist_origins()
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'{cdn}",
        f"style-src 'self' 'unsafe-inline'{cdn}",
        f"img-src 'self' data:{cdn}",
        "font-src 'self' data:",
        "connect-src 'self'",
        # ReDoc builds its search index in a worker started from a blob: URL
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class _LockedDown:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        nonce = getattr(request, "csp_nonce", None) or secrets.token_urlsafe(16)
        response["Content-Security-Policy"] = docs_content_security_policy(nonce)
        response["X-Frame-Options"] = "DENY"
        return response

    @extend_schema(exclude=True)  # pages, not API operations
    def get(self, request, *args, **kwargs):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = super().get(request, *args, **kwargs)
        if isinstance(response.data, dict):
            response.data["csp_nonce"] = request.csp_nonce
        return response


class SwaggerView(_LockedDown, SpectacularSwaggerSplitView):
    """Swagger UI; ``?script`` is its start script."""


class RedocView(_LockedDown, SpectacularRedocView):
    """ReDoc, without remote fonts."""

    template_name = "clarion/redoc.html"
