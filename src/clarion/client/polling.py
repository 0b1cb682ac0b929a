"""The polling fallback: the socket's resume, over HTTP (docs/protocol.md, "Polling resume").

When WebSocket handshakes keep failing (a proxy or a firewall that stops them while HTTP gets
through), the client polls ``GET /api/notifications/?after=<cursor>`` instead and turns each
answer into the frames a socket would have sent, so ``events()`` cannot tell the difference.
Every ``retry_interval`` it tries the socket again, which resumes from the cursor polling
reached: nothing is lost or repeated either way.

Requests run on a thread with the standard library's urllib: the client needs nothing beyond
``websockets``, and a poll every few seconds does not need an HTTP client of its own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

from clarion.client.errors import describe
from clarion.client.threads import in_daemon_thread


@dataclass(frozen=True)
class Polling:
    """When to poll and how. ``after_failures``: WebSocket handshakes that must fail in a row
    before polling starts; ``interval``: seconds between polls; ``retry_interval``: seconds of
    polling before the socket is tried again; ``page_size``: notifications per request (the
    server takes 1 to 500)."""

    after_failures: int = 3
    interval: float = 30.0
    retry_interval: float = 60.0
    page_size: int = 100

    def __post_init__(self):
        if self.after_failures < 1:
            raise ValueError("after_failures must be at least 1")
        if self.interval <= 0 or self.retry_interval <= 0:
            raise ValueError("interval and retry_interval must be positive")
        if not 1 <= self.page_size <= 500:
            raise ValueError("page_size must be from 1 to 500")


class HttpError(Exception):
    """The server answered with an error status (``body``: its JSON, or None)."""

    def __init__(self, status: int, body):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class Unreachable(Exception):
    """No answer: refused, timed out, connection lost."""


class Rest:
    """The few REST calls polling needs, at ``base`` (``http(s)://host[:port][/prefix]``)."""

    def __init__(self, base: str, timeout: float):
        self.base = base.rstrip("/")
        self.timeout = timeout

    def url(self, path: str) -> str:
        return self.base + path

    async def get(self, path: str, token: str, **query) -> dict:
        suffix = f"?{urlencode(query)}" if query else ""
        return await self._request("GET", path + suffix, token)

    async def post(self, path: str, token: str, body: dict | None = None) -> dict:
        return await self._request("POST", path, token, body)

    async def _request(self, method: str, path: str, token: str, body: dict | None = None):
        return await in_daemon_thread(self._blocking, method, path, token, body)

    def _blocking(self, method, path, token, body):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                payload = json.loads(error.read() or b"null")
            except ValueError:
                payload = None
            raise HttpError(error.code, payload) from None
        except (OSError, TimeoutError) as error:
            raise Unreachable(describe(getattr(error, "reason", error))) from None


# A client frame (its type) -> the REST action that does the same, and the frame its answer becomes.
_ACTIONS = {
    "mark_as_read": ("/api/notifications/read/", "notifications_read"),
    "mark_all_as_read": ("/api/notifications/read-all/", "notifications_read"),
    "mark_seen": ("/api/notifications/seen/", "notifications_state"),
    "mark_all_seen": ("/api/notifications/seen-all/", "notifications_state"),
    "archive": ("/api/notifications/archive/", "notifications_state"),
    "unarchive": ("/api/notifications/unarchive/", "notifications_state"),
    "mark_unread": ("/api/notifications/unread/", "notifications_state"),
    "snooze": ("/api/notifications/snooze/", "notifications_state"),
}


async def carry(rest: Rest, token: str, frame_text: str) -> list[str]:
    """Do a client frame over REST; the frames the socket would have pushed in answer (an
    ``error`` ``not_found`` for ids the server does not know). Raises HttpError or Unreachable
    when it could not be done (the caller keeps the frame)."""
    frame = json.loads(frame_text)
    kind = frame.get("type")
    if kind not in _ACTIONS:  # ping, ack: the socket's own business
        return []
    path, answer_type = _ACTIONS[kind]
    try:
        answer = await rest.post(path, token, frame.get("data") or None)
    except HttpError as error:
        if error.status != 404:
            raise
        ids = (error.body or {}).get("ids", []) if isinstance(error.body, dict) else []
        return [_frame("error", {"code": "not_found", "message": "no such notifications for this user", "ids": ids})]
    not_found = answer.pop("not_found", None) if isinstance(answer, dict) else None
    if kind == "mark_all_as_read":
        answer["all"] = True
    frames = [_frame(answer_type, answer)]
    if not_found:
        frames.append(_frame("error", {"code": "not_found", "ids": not_found,
                                       "message": f"no notifications with ids {not_found} for this user"}))
    return frames


class CursorRefused(Exception):
    """The server did not issue the cursor (400 on ``after``)."""


async def read_after(rest: Rest, token: str, cursor: str, page_size: int, *, resumed: bool) -> tuple[list[str], str]:
    """The frames a socket resumed from ``cursor`` would send (``resumed``: the first of a
    connection, with its ``recent_notifications``), and the cursor the next poll starts from."""
    items, answer, position = [], None, cursor
    while True:
        try:
            answer = await rest.get("/api/notifications/", token, after=position, limit=page_size)
        except HttpError as error:
            if error.status == 400 and isinstance(error.body, dict) and "after" in error.body:
                raise CursorRefused("; ".join(map(str, error.body["after"]))) from None
            raise
        if answer.get("cursor_expired"):
            return [_frame("error", {"code": "cursor_expired", "message": (
                        f"the cursor cannot be resumed ({answer['cursor_expired']}); sending a fresh snapshot")}),
                    _frame("recent_notifications", answer["snapshot"])], answer["snapshot"]["cursor"]
        items += answer["results"]
        position = answer["cursor"]
        if not answer["has_more"]:
            break
    frames = []
    if resumed:
        # Counted up to the cursor, as a resumed socket's snapshot is: the items that follow add themselves.
        unread = sum(1 for n in items if not n["is_read"])
        unseen = sum(1 for n in items if not n["is_read"] and not n.get("is_seen"))
        frames.append(_frame("recent_notifications", {
            "notifications": [], "unread_count": answer["unread_count"] - unread,
            "unseen_count": answer["unseen_count"] - unseen, "cursor": cursor if items else position,
            "resumed": True}))
    frames += [_frame("notification", n) for n in items]
    return frames, position


async def snapshot(rest: Rest, token: str) -> tuple[list[str], str]:
    data = await rest.get("/api/notifications/snapshot/", token)
    return [_frame("recent_notifications", data)], data["cursor"]




def _frame(kind: str, data) -> str:
    return json.dumps({"type": kind, "data": data})
