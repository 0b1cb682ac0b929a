"""Hub event shapes.

A frame event carries the wire frame already encoded (``frame``), so a publish serializes
once and the hub forwards the same text to every socket. ``seq`` orders frames of one log
per socket. A control event carries no frame: the hub hands it to each socket's consumer.
"""

SEQUENCED = "sequenced"
NOTIFICATIONS_READ = "notifications.read"
EPHEMERAL = "ephemeral"
CONTROL = "control"


def sequenced(seq: int, frame_text: str, meta: dict | None = None) -> dict:
    """``meta``: what each socket chooses by (clarion.realtime.hub): ``tags`` (category, topic)
    of a notification, which a socket holding its reader's mutes checks before writing the frame;
    ``frames``, the frame in other languages, by locale. None for other logs."""
    event = {"type": SEQUENCED, "seq": seq, "frame": frame_text}
    if meta:
        event.update(meta)
    return event


def notifications_read(frame_text: str) -> dict:
    """A frame for one user's sockets that is not a log entry (read state, inbox state)."""
    return {"type": NOTIFICATIONS_READ, "frame": frame_text}


def ephemeral(frame_text: str) -> dict:
    """Presence, typing, cursors: delivered at most once, never stored."""
    return {"type": EPHEMERAL, "frame": frame_text}


def control(payload: dict) -> dict:
    return {"type": CONTROL, "control": payload}
