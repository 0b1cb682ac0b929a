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

    class Meta:
        app_label = "clarion"
