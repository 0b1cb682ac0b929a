"""CLARION_EMAIL_URL -> Django's EMAIL_* settings, for the standalone server.

``smtp://user:pass@host:port`` (STARTTLS when the server offers nothing else: add +tls to
require it), ``smtp+tls://`` (STARTTLS), ``smtps://`` (TLS from the start, port 465),
``console:`` (print mails to the server's output: the demo), ``memory:`` (kept in memory, for
tests of a host project). User and password are percent-decoded, so ``%40`` is an ``@``.
"""

from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtp+tls": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "memory": "django.core.mail.backends.locmem.EmailBackend",
}


def email_settings(url: str) -> dict:
    """The EMAIL_* settings ``url`` names ({} for "": Django's defaults, SMTP on localhost:25)."""
    if not url:
        return {}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _BACKENDS:
        raise ImproperlyConfigured(f"CLARION_EMAIL_URL must start with one of {', '.join(s + ':' for s in _BACKENDS)};"
                                   f" got {url.split(':', 1)[0]!r}")
    settings = {"EMAIL_BACKEND": _BACKENDS[scheme]}
    if scheme.startswith("smtp"):
        if not parts.hostname:
            raise ImproperlyConfigured("CLARION_EMAIL_URL names no host, e.g. smtp+tls://user:pass@smtp.example.com:587")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured("CLARION_EMAIL_URL has a port that is not a number") from None
        settings.update({
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": port or (465 if scheme == "smtps" else 587 if scheme == "smtp+tls" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": scheme == "smtp+tls",
            "EMAIL_USE_SSL": scheme == "smtps",
            "EMAIL_TIMEOUT": 10,  # a stalled server must not hold the delivery worker's claim forever
        })
    return settings
