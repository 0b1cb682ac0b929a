"""No page can be framed by another site, and the API's docs pages load nothing from elsewhere
(issue 10, finding 8): a same-site page framed /api/auth/logout/ in the browsable API and signed
a victim out with one click; /api/docs/ and /api/redoc/ sent no policy and ReDoc loaded Google
Fonts."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("method, path", [
    ("get", "/api/auth/logout/"), ("post", "/api/auth/logout/"), ("get", "/api/notifications/"),
    ("get", "/api/me/"), ("get", "/api/schema/"), ("get", "/ui/session/token/"), ("post", "/ui/session/"),
    ("get", "/api/docs/"), ("get", "/api/redoc/"), ("get", "/"),
])
def test_every_response_forbids_framing(method, path):
    response = getattr(Client(), method)(path, HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response["X-Frame-Options"] == "DENY", (path, response.status_code)


@pytest.mark.parametrize("path", ["/api/auth/logout/", "/api/notifications/", "/api/auth/token/"])
def test_the_browsable_api_is_off_when_debug_is(path):
    response = Client().get(path, HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert b"<form" not in response.content


def _policy(response) -> dict[str, list[str]]:
    directives = [part.split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs/?script=", "/api/redoc/"])
def test_the_docs_pages_send_a_policy_that_forbids_framing_and_every_other_origin(path):
    response = Client().get(path)
    assert response.status_code == 200 and response["X-Frame-Options"] == "DENY"
    policy = _policy(response)
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    for directive in ("default-src", "script-src", "style-src", "img-src", "font-src", "connect-src"):
        assert not [source for source in policy[directive] if "://" in source or source in ("*", "https:")], directive
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_only_this_servers_files_and_no_inline_script_without_the_nonce(path):
    response = Client().get(path)
    html = response.content.decode()
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html and "cdn." not in html
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith("/") and not url.startswith("//"), url
        if url.startswith("/static/"):
            assert Client().get(url).status_code == 200, url  # served from the sidecar
    nonce = _policy(response)["script-src"][1].removeprefix("'nonce-").rstrip("'")
    for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        assert "src=" in attributes or f'nonce="{nonce}"' in attributes or not body.strip(), attributes


def test_redoc_settings_run_as_an_inline_script_only_with_the_pages_nonce():
    from drf_spectacular.settings import patched_settings

    with patched_settings({"REDOC_UI_SETTINGS": {"hideDownloadButton": True}}):
        response = Client().get("/api/redoc/")
    nonce = _policy(response)["script-src"][1]
    assert nonce.startswith("'nonce-") and f'<script nonce="{nonce[7:-1]}">' in response.content.decode()
    assert _policy(Client().get("/api/redoc/"))["script-src"][1] != nonce  # one per response
