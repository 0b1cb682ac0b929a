"""The measured payload, shaped like Clarion's notification frame so every stack carries the
same ~330 bytes: the peers' clients parse the same structure as Clarion's, and the frame size
(which drives the per-delivery cost) is comparable across stacks."""

import time

TITLE = "Benchmark notification"
MESSAGE = "A notification from the benchmark publisher, sized like a real one."


def marker(ph: str, seq: int, t: float | None = None) -> dict:
    """What the load generator measures: phase, sequence number, publisher clock."""
    return {"ph": ph, "seq": seq, "t": time.time() if t is None else t}


def notification_frame(ph: str, seq: int, recipient_type: str = "all", recipient_id: str = "") -> dict:
    """A peer's frame; ``t`` is taken here, just before the caller publishes it."""
    t = time.time()
    return {
        "type": "notification",
        "data": {
            "id": seq,
            "title": TITLE,
            "message": MESSAGE,
            "notification_type": "info",
            "recipient_type": recipient_type,
            "recipient_id": recipient_id,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000Z",
            "created_by": None,
            "is_read": False,
            "link": "",
            "data": marker(ph, seq, t),
            "cursor": f"c{seq}",
        },
    }
