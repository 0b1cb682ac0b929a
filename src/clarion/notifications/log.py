"""The notification log: one stream for the whole site, ordered by commit.

One stream, not one per user: a role or all-users notification is one row, and a user's
cursor is a position in this one log (docs/decisions/0003-commit-ordered-log.md).
"""

from clarion.notifications.models import Notification
from clarion.notifications.payloads import notification_payload
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.streams import sequencer
from clarion.streams.log import SequencedLog

STREAM_KIND = "notifications"  # also the StreamHead name of its one stream


def _frame(notification) -> str:
    return encode_frame(server_frame(ServerFrameType.NOTIFICATION, notification_payload(notification, is_read=False)))


def _audience(notification):
    if notification.recipient_type == "all":
        return ("all", None)
    return (notification.recipient_type, notification.recipient_id)


NOTIFICATIONS_LOG = SequencedLog(
    "notification",
    Notification,
    stream_kind=STREAM_KIND,
    stream_field=None,
    audience=_audience,
    frame=_frame,
    # What a reader can mute: each socket holding mutes drops such a frame (clarion.realtime.hub).
    tags=lambda notification: (notification.category, notification.topic),
)
STREAM = NOTIFICATIONS_LOG.key()


def publish_on_commit(inserted=None) -> None:
    """Sequence and push the notifications created in this transaction once it commits
    (``inserted``: the rows it created, when it did nothing else to the log)."""
    sequencer.on_commit(NOTIFICATIONS_LOG, STREAM, inserted)
