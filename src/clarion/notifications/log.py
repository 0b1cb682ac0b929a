"""The notification log: one stream for the whole site, ordered by commit.

One stream, not one per user: a role or all-users notification is one row, and a user's
cursor is a position in this one log (docs/decisions/0003-commit-ordered-log.md).
"""

from clarion.notifications import messages
from clarion.notifications.models import Notification
from clarion.notifications.payloads import notification_payload
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.streams import sequencer
from clarion.streams.log import SequencedLog

STREAM_KIND = "notifications"  # also the StreamHead name of its one stream


def _frame(notification) -> str:
    """The frame in the site's language (every reader of another language gets its own, _meta)."""
    return encode_frame(server_frame(ServerFrameType.NOTIFICATION, notification_payload(
        notification, is_read=False, locale=messages.default_locale() if notification.template else None)))


def _meta(notification) -> dict:
    """What a reader can mute (each socket holding mutes drops such a frame), and a templated
    notification's frame in the site's other languages: encoded once per language, not per socket."""
    meta = {"tags": (notification.category, notification.topic)}
    if notification.template:
        default = messages.default_locale()
        meta["frames"] = {
            locale: encode_frame(server_frame(ServerFrameType.NOTIFICATION,
                                              notification_payload(notification, is_read=False, locale=locale)))
            for locale in messages.locales() if locale != default
        }
    return meta


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
    meta=_meta,
)
STREAM = NOTIFICATIONS_LOG.key()


def publish_on_commit(inserted=None) -> None:
    """Sequence and push the notifications created in this transaction once it commits
    (``inserted``: the rows it created, when it did nothing else to the log)."""
    sequencer.on_commit(NOTIFICATIONS_LOG, STREAM, inserted)
