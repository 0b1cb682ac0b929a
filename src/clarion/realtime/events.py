"""Channel-layer event types. Channels dispatches "a.b" to the consumer method ``a_b``.

Each event carries the wire frame already encoded (``frame``), so a publish serializes once
and every consumer forwards the same text without re-querying or re-encoding.
"""

NOTIFICATION_CREATED = "notification.created"
NOTIFICATIONS_READ = "notifications.read"


def notification_created(seq: int, frame_text: str) -> dict:
    return {"type": NOTIFICATION_CREATED, "seq": seq, "frame": frame_text}


def notifications_read(frame_text: str) -> dict:
    return {"type": NOTIFICATIONS_READ, "frame": frame_text}
