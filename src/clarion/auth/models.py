from django.conf import settings
from django.db import models


class ConnectTicket(models.Model):
    """A short-lived, single-use credential for opening one socket (keeps JWTs out of URLs).

    Only a hash of the ticket is stored, so a database dump cannot be replayed.
    """

    key_hash = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The Origin of the page that asked for it ("" for non-browser clients); the socket must match.
    origin = models.CharField(max_length=300, blank=True, default="")
    expires_at = models.DateTimeField(db_index=True)
    used = models.BooleanField(default=False)
    # When the credential that asked for the ticket expires (the access token's exp): a socket
    # opened with the ticket is closed then, as one opened with that token would be. A ticket
    # asked for with the web UI's session cookie gets the expiry an access token minted then would
    # have. Null only for tickets issued in code without one.
    auth_expires_at = models.DateTimeField(null=True, blank=True)
    # The web UI session the credential came from (the token's "sid" claim, or the session cookie
    # itself): signing out of that session closes the socket (clarion.auth.ui_sessions).
    ui_session = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        app_label = "clarion"


class SessionCutoff(models.Model):
    """Credentials of this user issued before ``not_before`` are refused, and the sockets they
    opened are closed: written on logout, password change and deactivation (clarion.auth.revocation).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="clarion_session_cutoff")
    # Whole seconds since the epoch, as the JWT "iat" claim counts them.
    not_before = models.BigIntegerField()

    class Meta:
        app_label = "clarion"


class EndedUISession(models.Model):
    """A web UI session that was signed out: access tokens carrying its id (the "sid" claim) are
    refused, and the sockets they opened are closed (clarion.auth.ui_sessions).

    Kept until every token minted from the session has expired, then pruned."""

    sid = models.CharField(max_length=64, primary_key=True)
    forget_after = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "clarion"
