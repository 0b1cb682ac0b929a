"""The process-level fan-out hub: one subscription per group per process, frames written
straight to each local socket.

Why hand-written (the scale-out issue measured it): Channels' layers give every consumer its
own channel and wake one task per socket per message, 20-30x the cost of writing a frame.
Here a published event is encoded once; the hub walks the group's local subscriptions and
pushes the same text into each socket's Outbox. Large groups are walked in slices with a
yield between them, so a personal notification never waits for a 10,000-socket broadcast.

Ordering: events that carry a ``seq`` (the commit-ordered log position) reach each socket in
seq order. When a later event reaches a socket before an earlier broadcast still in flight
has, the earlier frame is written first ("pulled ahead"); the broadcast skips that socket
when it gets there. A socket is not "ready" until its connect snapshot is sent: what arrives
before is held and flushed in seq order, dropping what the snapshot already covered.
"""

import asyncio
import logging
import weakref

from clarion.observability import metrics
from clarion.realtime import broker, events

logger = logging.getLogger("clarion.hub")

SLICE = 256  # sockets written per event-loop turn during a large fan-out


class Subscription:
    """One socket's place in the hub."""

    __slots__ = ("outbox", "last_seq", "ready", "held", "groups", "on_resync", "on_control", "resync_pending",
                 "filter", "locale", "__weakref__")

    def __init__(self, outbox, on_resync, on_control=None):
        self.outbox = outbox
        self.on_resync = on_resync  # coroutine function: catch up from the database
        self.on_control = on_control  # coroutine function(payload): a control event for the consumer
        self.last_seq = 0
        self.ready = False
        self.held = []
        self.groups = set()
        self.resync_pending = False  # a resync came while a database read was in progress
        # None, or an object whose hides(tags) says this socket's reader muted such an event
        # (clarion.notifications.reader.SocketFilter): checked per socket, without a query.
        self.filter = None
        # The reader's language when it is not the site's: a templated notification's frame is
        # taken from the event's "frames" for it (encoded once per language by the publisher).
        self.locale = None

    def text_of(self, text: str, frames) -> str:
        if frames is None or self.locale is None:
            return text
        return frames.get(self.locale, text)

    def skips(self, tags) -> bool:
        return tags is not None and self.filter is not None and self.filter.hides(tags)


class _Fanout:
    __slots__ = ("group", "seq", "text", "members", "tags", "frames")

    def __init__(self, group, seq, text, members, tags=None, frames=None):
        self.group, self.seq, self.text, self.members = group, seq, text, members
        self.tags, self.frames = tags, frames


class Hub:
    def __init__(self, broker):
        self.broker = broker
        broker.bind(self)
        self._groups: dict[str, dict[Subscription, None]] = {}  # insertion-ordered sets
        self._inflight: list[_Fanout] = []
        self._subscriptions: "weakref.WeakSet[Subscription]" = weakref.WeakSet()

    # -- membership -------------------------------------------------------------------

    def attach(self, outbox, on_resync, on_control=None) -> Subscription:
        subscription = Subscription(outbox, on_resync, on_control)
        self._subscriptions.add(subscription)
        return subscription

    async def join(self, subscription: Subscription, groups) -> None:
        for group in self.broker.place(list(groups)):
            members = self._groups.get(group)
            if members is None:
                members = self._groups[group] = {}
                await self.broker.subscribe(group)
            members[subscription] = None
            subscription.groups.add(group)

    async def detach(self, subscription: Subscription) -> None:
        subscription.outbox.discard()
        for group in subscription.groups:
            members = self._groups.get(group)
            if members is None:
                continue
            members.pop(subscription, None)
            if not members:
                del self._groups[group]
                try:
                    await self.broker.unsubscribe(group)
                except Exception:
                    logger.warning("could not unsubscribe %s", group, exc_info=True)
        subscription.groups.clear()
        self._subscriptions.discard(subscription)

    def has_members(self, group: str) -> bool:
        """Whether a socket of this process is in ``group``."""
        return any(self._groups.get(name) for name in self.broker.copies(group))

    def dispatch_local(self, group: str, frame_text: str) -> None:
        """Write an unsequenced frame to this process's sockets in ``group`` only."""
        for name in self.broker.copies(group):
            self.dispatch(name, events.notifications_read(frame_text))

    def mark_ready(self, subscription: Subscription, head: int) -> None:
        """The socket's snapshot covers everything up to ``head``: flush what was held."""
        subscription.last_seq = max(subscription.last_seq, head)
        held, subscription.held = subscription.held, []
        subscription.ready = True
        ordered = sorted((e for e in held if e.get("seq") is not None), key=lambda e: e["seq"])
        for event in ordered:
            if event["seq"] > subscription.last_seq:
                subscription.last_seq = event["seq"]
                if not subscription.skips(event.get("tags")):
                    subscription.outbox.push(subscription.text_of(event["frame"], event.get("frames")))
        for event in held:
            if event.get("seq") is None:
                subscription.outbox.push(event["frame"])
        if subscription.resync_pending:
            # The read that just finished may predate the broker's recovery: read again.
            subscription.resync_pending = False
            subscription.ready = False
            asyncio.get_running_loop().create_task(subscription.on_resync())

    # -- delivery ---------------------------------------------------------------------

    def dispatch(self, group: str, event: dict) -> None:
        """Deliver an event published to ``group`` to this process's sockets in it."""
        members = self._groups.get(group)
        if not members:
            return
        if "control" in event:
            self._dispatch_control(members, event["control"])
            return
        seq = event.get("seq")
        text = event["frame"]
        if seq is None:
            for subscription in tuple(members):
                if subscription.ready:
                    subscription.outbox.push(text)
                else:
                    subscription.held.append(event)
            metrics.DELIVERIES.inc(len(members))
            return
        fanout = _Fanout(group, seq, text, tuple(members), event.get("tags"), event.get("frames"))
        metrics.DELIVERIES.inc(len(fanout.members))
        if len(fanout.members) <= SLICE:
            self._deliver_slice(fanout, event, 0)
            return
        self._inflight.append(fanout)
        self._deliver_slice(fanout, event, 0)
        asyncio.get_running_loop().create_task(self._deliver_rest(fanout, event))

    def _dispatch_control(self, members, payload: dict) -> None:
        loop = asyncio.get_running_loop()
        for subscription in tuple(members):
            if subscription.on_control is not None and not subscription.outbox.closed:
                loop.create_task(subscription.on_control(payload))

    async def _deliver_rest(self, fanout: _Fanout, event: dict) -> None:
        try:
            for start in range(SLICE, len(fanout.members), SLICE):
                await asyncio.sleep(0)  # let personal notifications and reads through
                self._deliver_slice(fanout, event, start)
        finally:
            self._inflight.remove(fanout)

    def _deliver_slice(self, fanout: _Fanout, event: dict, start: int) -> None:
        seq, tags, frames = fanout.seq, fanout.tags, fanout.frames
        inflight = self._inflight
        for subscription in fanout.members[start:start + SLICE]:
            if not subscription.ready:
                subscription.held.append(event)
                continue
            if subscription.last_seq >= seq:
                continue
            if inflight:
                for earlier in inflight:
                    if earlier.seq >= seq:
                        break
                    if subscription.last_seq < earlier.seq and earlier.group in subscription.groups:
                        subscription.last_seq = earlier.seq
                        if not subscription.skips(earlier.tags):
                            subscription.outbox.push(subscription.text_of(earlier.text, earlier.frames))
            # A muted entry still moves the socket's position: it was decided, not lost.
            subscription.last_seq = seq
            if tags is None or subscription.filter is None or not subscription.filter.hides(tags):
                subscription.outbox.push(fanout.text if frames is None or subscription.locale is None
                                         else frames.get(subscription.locale, fanout.text))

    # -- recovery ---------------------------------------------------------------------

    def resync(self) -> None:
        """Events may have been lost (the broker reconnected): every socket catches up."""
        loop = asyncio.get_running_loop()
        for subscription in list(self._subscriptions):
            if subscription.outbox.closed or subscription.on_resync is None:
                continue  # gone, or a listener with nothing to catch up from (tests, probes)
            if not subscription.ready:
                # Its snapshot or catch-up read is in progress; catch up again once it is done
                # (from the position it reaches, so nothing is sent twice).
                subscription.resync_pending = True
                continue
            subscription.ready = False
            loop.create_task(subscription.on_resync())

    async def publish(self, group: str, event: dict) -> None:
        await self.broker.publish(group, event)

    async def publish_many(self, messages: list[tuple[str, dict]]) -> None:
        await self.broker.publish_many(messages)


make_broker = broker.make_broker
local_delivery_only = broker.local_delivery_only


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop (a server process has one)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(make_broker())
    return hub


def existing_hub() -> Hub | None:
    """The running loop's hub if something already created it (sockets, lifespan), else None."""
    return _hubs.get(asyncio.get_running_loop())


async def close_hub() -> None:
    """Close the running loop's hub and its broker connections (shutdown, tests)."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await hub.broker.close()

