"""The web UI's sign-in: a Django session (an HttpOnly cookie) that mints short-lived access tokens.

Each signed-in session gets a random id, kept in the session. The access tokens it mints carry it
(the "sid" claim) and so do the connect tickets asked for with them or with its cookie; signing out
ends exactly those: they are refused from then on and the sockets they opened close with 4401
(clarion.auth.revocation.end_ui_session; docs/decisions/0007-ui-sign-out-ends-its-tokens.md).
The id is not the session key: a JWT is signed, not encrypted, and the key is a credential.
"""

import secrets
import time

from rest_framework_simplejwt.tokens import AccessToken

from clarion.auth import revocation
from clarion.auth.tokens import UI_SESSION_CLAIM, issued_before_cutoff

# Session keys.
SIGNED_IN_AT = "clarion_signed_in_at"
SESSION_ID = "clarion_ui_session"


def begin(session) -> None:
    """Call right after django.contrib.auth.login (which gives the session a new key)."""
    session[SIGNED_IN_AT] = time.time()
    session[SESSION_ID] = secrets.token_urlsafe(24)


def session_id(session) -> str:
    """This session's id; made on first use for a session signed in another way (the admin)."""
    sid = session.get(SESSION_ID)
    if not isinstance(sid, str) or not sid:
        sid = session[SESSION_ID] = secrets.token_urlsafe(24)
    return sid


def outlived(user, session) -> bool:
    """Whether the session began before the user's sessions were ended (a logout through the
    API, clarion.auth.revocation): it is over too. A password change or a deactivation ends
    Django sessions by itself."""
    return issued_before_cutoff(user, session.get(SIGNED_IN_AT))


def access_token(user, session) -> str:
    """An access token (ACCESS_TOKEN_LIFETIME) that dies with this session."""
    token = AccessToken.for_user(user)
    token[UI_SESSION_CLAIM] = session_id(session)
    return str(token)


def credential_expiry() -> float:
    """When a credential asked for with the session cookie now expires: as an access token minted
    now would (a ticket socket then lives no longer on a cookie than on a token)."""
    # The class attribute, which simplejwt reads from ACCESS_TOKEN_LIFETIME once, is what minting uses.
    return time.time() + AccessToken.lifetime.total_seconds()


def end(user, session) -> None:
    """Sign-out: end this session's tokens, tickets and sockets (not the user's other sessions).
    Call before django.contrib.auth.logout, which forgets the id."""
    sid = session.get(SESSION_ID)
    if user.is_authenticated and isinstance(sid, str) and sid:
        revocation.end_ui_session(user, sid)
