"""The channels a delivery goes out on, behind one small interface.

A channel says who it can reach at all (an address, a subscription) and who it should not
reach now (push: a reader with a socket open), and sends messages. A message is one row, or a
reader's rows held for one digest. ``send`` yields an Outcome per message as soon as it is
known, so the worker records each before the next goes out: a worker killed mid-batch has
recorded everything it sent but the one in flight.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Message:
    channel: str
    user: object  # the reader (a user instance)
    locale: str
    deliveries: list  # Delivery rows, each with its notification loaded
    digest: bool = False


@dataclass(frozen=True)
class Outcome:
    status: str  # "sent", "retry", "failed" or "skipped"
    error: str = ""
    reason: str = ""  # for "skipped"


SENT = Outcome("sent")


class DeliveryChannel:
    name: str = ""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"

    def reachable(self, users: dict) -> set:
        """Which of ``users`` ({id: user}) this channel has somewhere to send to."""
        raise NotImplementedError

    def narrow(self, users):
        """The part of a role's or everyone's audience (a QuerySet of users) worth looking at:
        push narrows it to subscribers, so that a broadcast costs what its subscribers cost."""
        return users

    def unwanted_now(self, user_ids) -> set:
        """Readers this channel should leave alone at planning time (push: online ones)."""
        return set()

    def delay(self, category: str) -> float:
        """Seconds after creation a notification of ``category`` is due on this channel."""
        return 0.0

    def send(self, messages: list[Message], still_mine):
        """Yield (message, Outcome) for each message; stop early once ``still_mine()`` is false
        (the claim lapsed: another worker may have the rest)."""
        raise NotImplementedError


_channels: dict[str, DeliveryChannel] = {}


def register(channel: DeliveryChannel) -> None:
    _channels[channel.name] = channel


def get(name: str) -> DeliveryChannel:
    if not _channels:
        _load()
    return _channels[name]


def all_channels() -> list[DeliveryChannel]:
    if not _channels:
        _load()
    return list(_channels.values())


def _load() -> None:
    from clarion.delivery.channels.email import EmailChannel
    from clarion.delivery.channels.push import PushChannel

    register(EmailChannel())
    register(PushChannel())
