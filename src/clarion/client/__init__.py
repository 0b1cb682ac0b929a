"""An asyncio client for Clarion streams: reconnects with backoff, resumes by cursor, drops
duplicates, and checks liveness with a heartbeat. See docs/clients.md ("Python client").

It needs the ``websockets`` library and ``clarion.protocol``, never Django.
"""

from clarion.client.backoff import Backoff
from clarion.client.polling import Polling
from clarion.client.connection import NOTIFICATIONS_PATH, Client, TokenProvider
from clarion.client.errors import ActionQueueFull, AuthenticationError, ClientError, ConnectFailed, StreamClosed
from clarion.client.events import (
    Connected,
    Disconnected,
    Event,
    Notification,
    NotificationsRead,
    NotificationsState,
    Pong,
    PreferencesChanged,
    RecentNotifications,
    ServerError,
    UnknownFrame,
)

__all__ = [
    "Client",
    "Backoff",
    "Polling",
    "TokenProvider",
    "NOTIFICATIONS_PATH",
    "ClientError",
    "AuthenticationError",
    "StreamClosed",
    "ConnectFailed",
    "ActionQueueFull",
    "Event",
    "Connected",
    "Disconnected",
    "RecentNotifications",
    "Notification",
    "NotificationsRead",
    "NotificationsState",
    "PreferencesChanged",
    "Pong",
    "ServerError",
    "UnknownFrame",
]
