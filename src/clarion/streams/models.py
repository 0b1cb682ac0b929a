"""The log's own tables: where each stream stands, and the rows set aside as unpublishable.

Both keep the ``clarion`` app label and their table names: they moved here from
clarion.notifications.models (issue 11) without a migration.
"""

from django.db import models


class StreamHead(models.Model):
    """The last seq handed out, and the last one pushed, per stream; updated only under the
    stream's lock. ``published < position`` means pushes failed and wait for the relay."""

    name = models.CharField(max_length=32, primary_key=True)
    position = models.BigIntegerField(default=0)
    published = models.BigIntegerField(default=0)
    # Entries at or below this seq may have been deleted by retention (`clarion prune`): a
    # cursor below it cannot be resumed without a gap, so the reader gets a fresh snapshot.
    retained_after = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        app_label = "clarion"


class ParkedEntry(models.Model):
    """A log row that can never be sequenced or pushed (its frame cannot be encoded, its
    audience names no valid group): set aside so that its stream goes on past it.

    Publishing is strictly in order, and without this one bad row (stored behind the API's
    back, or before a setting changed) stalled its whole stream for every reader, across
    restarts (issue 10). The row itself is kept; ``clarion doctor`` lists, retries or drops it.
    """

    log = models.CharField(max_length=32)  # the SequencedLog's name: notification, project_event, ...
    row_id = models.BigIntegerField()
    stream = models.CharField(max_length=32, blank=True, default="")
    seq = models.BigIntegerField(null=True, blank=True)  # set when it was sequenced but cannot be pushed
    stage = models.CharField(max_length=16)  # "sequence" or "publish"
    reason = models.CharField(max_length=500)
    parked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "clarion"
        constraints = [models.UniqueConstraint(fields=["log", "row_id"], name="clarion_parked_once")]

    def __str__(self):
        return f"{self.log} {self.row_id} ({self.stage}): {self.reason}"
