"""The server's VAPID key pair (RFC 8292): it signs every push, and browsers subscribe with its
public half (``applicationServerKey``), so a push service refuses a push signed by any other.

Taken from CLARION["VAPID_PRIVATE_KEY"] (and ``VAPID_PUBLIC_KEY``, which must match it) when
set; otherwise generated on first use and kept in the database (VapidKeyPair), so that every
process and machine of a scale-out deployment shares it. Both halves are base64url without
padding: the raw 32-byte private scalar and the 65-byte uncompressed public point.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.exceptions import ImproperlyConfigured

from clarion.conf import clarion_settings


@dataclass(frozen=True)
class KeyPair:
    private_key: str
    public_key: str


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding (browsers send it unpadded); ValueError if bad."""
    if not isinstance(text, str) or not text or len(text) > 1000:
        raise ValueError("not a base64url string")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a base64url string") from exc


def _public_of(private: ec.EllipticCurvePrivateKey) -> str:
    return b64url_encode(private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def generate() -> KeyPair:
    private = ec.generate_private_key(ec.SECP256R1())
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    return KeyPair(b64url_encode(scalar), _public_of(private))


def from_settings() -> KeyPair | None:
    """The pair CLARION configures, None when it configures none; ImproperlyConfigured when it
    is malformed (the start-up check clarion.E013 reports that before any push fails)."""
    private_text = clarion_settings.VAPID_PRIVATE_KEY
    public_text = clarion_settings.VAPID_PUBLIC_KEY
    if not private_text:
        if public_text:
            raise ImproperlyConfigured('CLARION["VAPID_PUBLIC_KEY"] is set without CLARION["VAPID_PRIVATE_KEY"]; '
                                       "set both, or neither to let Clarion generate a pair")
        return None
    try:
        raw = b64url_decode(private_text)
        if len(raw) != 32:
            raise ValueError
        private = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        raise ImproperlyConfigured('CLARION["VAPID_PRIVATE_KEY"] must be a P-256 private key as base64url of its '
                                   "raw 32 bytes, as `npx web-push generate-vapid-keys` or `python -c \"from "
                                   "clarion.delivery.vapid import generate; print(generate())\"` print one") from None
    public = _public_of(private)
    if public_text and public_text.rstrip("=") != public:
        raise ImproperlyConfigured('CLARION["VAPID_PUBLIC_KEY"] is not the public half of CLARION["VAPID_PRIVATE_KEY"] '
                                   f"(that is {public}); browsers would subscribe with a key nothing signs with")
    return KeyPair(b64url_encode(raw), public)


def _from_database() -> KeyPair:
    from clarion.delivery.models import VapidKeyPair

    row = VapidKeyPair.objects.filter(pk=1).first()
    if row is None:
        fresh = generate()
        # Two processes may both find none: each inserts, the database keeps the first (primary
        # key 1), and both read back the one kept.
        VapidKeyPair.objects.bulk_create([VapidKeyPair(pk=1, private_key=fresh.private_key,
                                                       public_key=fresh.public_key)], ignore_conflicts=True)
        row = VapidKeyPair.objects.get(pk=1)
    return KeyPair(row.private_key, row.public_key)


_lock = threading.Lock()
_cached: dict[tuple, KeyPair] = {}


def keys() -> KeyPair:
    """The key pair (read once per process; settings changed in tests read it again)."""
    key = (clarion_settings.VAPID_PRIVATE_KEY, clarion_settings.VAPID_PUBLIC_KEY)
    pair = _cached.get(key)
    if pair is None:
        with _lock:
            pair = _cached.get(key)
            if pair is None:
                pair = from_settings() or _from_database()
                _cached.clear()
                _cached[key] = pair
    return pair


def forget() -> None:
    """Drop the cached pair (tests that empty the database between cases)."""
    _cached.clear()
