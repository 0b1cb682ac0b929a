"""The TypeScript client's types against the Python protocol definitions: frame types both ways,
error codes, close codes with their numbers, and the notification payload's fields. The two are
written separately; this keeps them from drifting (issue 13, item 8). Plain text, no database."""

import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from clarion.notifications.payloads import notification_payload
from clarion.protocol import CloseCode, ErrorCode, ServerFrameType
from clarion.protocol.frames import CLIENT_FRAMES, COLLABORATION_CLIENT_FRAMES, PROJECT_CLIENT_FRAMES

SRC = Path(__file__).resolve().parents[2] / "clients" / "js" / "src"
TYPES = (SRC / "types.ts").read_text(encoding="utf-8")
EVERY_FILE = "\n".join(path.read_text(encoding="utf-8") for path in sorted(SRC.glob("*.ts")))


def _type_literals(text: str) -> set[str]:
    return set(re.findall(r'type:\s*"([a-z_]+)"', text))


def _block(text: str, opening: str) -> str:
    start = text.index(opening)
    end = text.index("}", start) if "{" in opening else text.index(";", start)
    return text[start:end]


def _union_literals(union_name: str, *more: str) -> set[str]:
    """The `type` literals of the frame interfaces a union (and the unions it names) lists."""
    named = set()
    for name in (union_name, *more):
        named |= set(re.findall(r"\b([A-Z][A-Za-z]+Frame)\b", _block(TYPES, f"export type {name} =")))
    literals = set()
    for name in named:
        match = re.search(rf"export interface {name} \{{\s*type: \"([a-z_]+)\"", TYPES)
        if match:
            literals.add(match.group(1))
    return literals


# What /ws/notifications/ sends (docs/protocol.md, "Server frames"); the rest belong to other streams.
NOTIFICATIONS_SERVER_FRAMES = {
    ServerFrameType.RECENT_NOTIFICATIONS, ServerFrameType.NOTIFICATION, ServerFrameType.NOTIFICATIONS_READ,
    ServerFrameType.NOTIFICATIONS_STATE, ServerFrameType.PREFERENCES_CHANGED, ServerFrameType.PONG,
    ServerFrameType.ERROR,
}


def test_every_server_frame_type_is_a_typescript_frame_and_back():
    python = {str(t) for t in ServerFrameType}
    typescript = _type_literals(EVERY_FILE)
    assert python - typescript == set(), "server frames without a TypeScript type"
    notification_frames = _type_literals(TYPES)
    client_sent = set(CLIENT_FRAMES)
    assert notification_frames - python - client_sent == set(), "TypeScript frames the server does not know"


def test_the_notifications_stream_frames_are_typed_in_types_ts_exactly():
    notifications = {str(t) for t in NOTIFICATIONS_SERVER_FRAMES}
    assert notifications - _type_literals(TYPES) == set()
    assert _union_literals("NotificationsServerFrame") == notifications


def test_every_client_frame_the_server_parses_is_typed_in_typescript_and_back():
    python = set(CLIENT_FRAMES) | set(PROJECT_CLIENT_FRAMES) | set(COLLABORATION_CLIENT_FRAMES)
    typescript = _type_literals(EVERY_FILE)
    assert python - typescript == set()
    assert set(CLIENT_FRAMES) - _type_literals(TYPES) == set()
    literals = _union_literals("NotificationsClientFrame", "InboxActionFrame")
    assert literals == set(CLIENT_FRAMES), "the notifications client frames differ"


def test_the_inbox_states_are_the_same_set():
    from clarion.notifications import inbox  # imports the models (app registry), touches no database

    python = {inbox.SEEN, inbox.ALL_SEEN, inbox.ARCHIVED, inbox.UNARCHIVED, inbox.UNREAD, inbox.SNOOZED,
              inbox.RETURNED, inbox.EXPIRED}
    union = _block(TYPES, "export type InboxState =")
    assert set(re.findall(r'"([a-z_]+)"', union)) == python


def test_error_codes_are_the_same_set():
    union = _block(TYPES, "export type ErrorCode =")
    assert set(re.findall(r'"([a-z_]+)"', union)) == {str(code) for code in ErrorCode}


def test_close_codes_have_the_same_names_and_numbers():
    table = _block(TYPES, "export const CloseCode = {")
    typescript = {name: int(number) for name, number in re.findall(r"([A-Z_]+):\s*(\d+)", table)}
    assert typescript == {code.name: int(code) for code in CloseCode}


def test_the_notification_interface_lists_exactly_the_payload_fields():
    fake = SimpleNamespace(
        pk=1, title="t", message="", notification_type="info", recipient_type="all", recipient_id="",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), created_by_id=None, link="", data={}, seq=1,
        category="announcement", topic="", group_key="", expires_at=None, template="", params=None,
    )
    payload = set(notification_payload(fake, is_read=False))
    interface = _block(TYPES, "export interface Notification {")
    fields = set(re.findall(r"^\s+([a-z_]+)\??:", interface, re.MULTILINE))
    assert fields == payload
