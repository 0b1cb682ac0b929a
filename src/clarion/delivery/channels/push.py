"""Web Push (RFC 8030, encrypted per RFC 8291, signed per RFC 8292): a system notification for a
reader with no socket open on any server process when the notification is published.

Due at once (delay 0), planned by the worker's round after the notification is sequenced; the
planner skips readers who are online (clarion.realtime.online) with reason "online". One
Delivery row is one push, posted with pywebpush to every browser the reader subscribed
(PushSubscription). The push service answers per subscription: 201/202 delivered, 404/410 the
subscription ended (deleted here), 429/5xx or no answer try again later, any other 4xx a
refusal that retrying will not change. The payload is encrypted for the browser's keys: the
push service sees its size and timing, nothing else.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import orjson
import requests
from django.core import signing
from django.utils import timezone, translation
from django.utils.translation import ngettext
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush

from clarion.conf import clarion_settings
from clarion.delivery import links, vapid
from clarion.delivery.channels import SENT, DeliveryChannel, Message, Outcome
from clarion.delivery.models import PushSubscription, Reason
from clarion.notifications.payloads import localized
from clarion.realtime import online, runtime
from clarion.realtime.broker import redis_options

logger = logging.getLogger("clarion.delivery.push")

POST_TIMEOUT = 10.0  # seconds per push service request
# Push services accept 4096 bytes of encrypted record; aes128gcm adds 86 bytes of header and
# 17 of padding delimiter and tag. A long message is shortened to fit, never refused.
MAX_PAYLOAD_BYTES = 3900
TITLE_CHARS = 200

# The read link of a push: who may mark which notification read, with no sign-in.
READ_SALT = "clarion.push.read"
READ_TOKEN_MAX_AGE = 30 * 24 * 3600  # seconds: a notification left in the tray longer goes stale


def read_token(user_id, notification_id: int) -> str:
    return signing.dumps({"u": str(user_id), "n": int(notification_id)}, salt=READ_SALT, compress=False)


def read_target(token) -> tuple[str, int]:
    """(user id, notification id) of a read token; signing.BadSignature (or its SignatureExpired)
    when it is not one this site signed in the last READ_TOKEN_MAX_AGE seconds."""
    if not isinstance(token, str) or not token or len(token) > 500:
        raise signing.BadSignature("not a read token")
    value = signing.loads(token, salt=READ_SALT, max_age=READ_TOKEN_MAX_AGE)
    if not isinstance(value, dict) or not isinstance(value.get("u"), str) or not isinstance(value.get("n"), int):
        raise signing.BadSignature("not a read token")
    return value["u"], value["n"]


def payload(notification, user_id, locale: str) -> bytes:
    """The JSON a browser's service worker receives (clients/web/src/sw.ts), in ``locale``."""
    title, body = localized(notification, locale)
    data = {
        "id": notification.pk,
        "title": title[:TITLE_CHARS],
        "body": body,
        "url": links.absolute(notification.link or f"/?notification={notification.pk}"),
        "tag": f"clarion-{notification.pk}",
        "read_token": read_token(user_id, notification.pk),
    }
    encoded = orjson.dumps(data)
    while len(encoded) > MAX_PAYLOAD_BYTES and data["body"]:
        # Cut the body's UTF-8 in the proportion its JSON is over (JSON escapes make some text
        # longer than its bytes), at a character boundary, and measure again.
        raw = data["body"].encode()
        as_json = len(orjson.dumps(data["body"]))
        room = as_json - (len(encoded) - MAX_PAYLOAD_BYTES) - len("…".encode()) - 2
        keep = len(raw) * room // as_json
        data["body"] = raw[:keep].decode("utf-8", "ignore").rstrip() + "…" if keep > 0 else ""
        encoded = orjson.dumps(data)
    return encoded


def digest_payload(notifications, locale: str) -> bytes:
    """One push for a reader's held rows (an hourly or daily digest): how many, the first
    titles, a link to the inbox. No read token: opening a summary reads none of them."""
    with translation.override(locale):
        title = ngettext("%(count)d unread notification", "%(count)d unread notifications",
                         len(notifications)) % {"count": len(notifications)}
    titles = [localized(notification, locale)[0] for notification in notifications]
    body = "\n".join(titles[:5]) + ("\n…" if len(titles) > 5 else "")
    data = {"id": notifications[0].pk, "title": title[:TITLE_CHARS], "body": body[:1000],
            "url": links.absolute("/"), "tag": "clarion-digest", "read_token": ""}
    return orjson.dumps(data)


class PushChannel(DeliveryChannel):
    _warned_blind = False

    def __init__(self):
        super().__init__(name="push")

    def delay(self, category: str) -> float:
        return 0.0  # a push is worth sending only while the news is new

    def reachable(self, users: dict) -> set:
        return set(PushSubscription.objects.filter(user_id__in=list(users)).values_list("user_id", flat=True))

    def narrow(self, users):
        # A role's or everyone's notification reaches only subscribers: the rest would get no
        # row anyway, so a broadcast is planned at the cost of its subscribers, not its audience.
        return users.filter(pk__in=PushSubscription.objects.values("user_id"))

    def unwanted_now(self, user_ids) -> set:
        if redis_options() is None and not runtime.is_serving() and not self._warned_blind:
            # `clarion worker` beside an embedded server: the sockets are counted in the server
            # process, which this one cannot ask, so every reader looks offline from here.
            logger.warning("push: this process serves no sockets and the broker is in-process, so it cannot tell "
                           "who is online: readers with a tab open get pushes too. Run the worker inside "
                           "`clarion serve`, or use the Redis broker (docs/delivery-push.md)")
            self._warned_blind = True
        return online.online(user_ids)

    def send(self, messages: list[Message], still_mine):
        # Asked again at send time, once per batch: a push held by quiet hours or a retry may
        # find its reader in the app by now.
        online_now = online.online({message.user.pk for message in messages})
        signer = None
        session = requests.Session()
        try:
            for message in messages:
                if not still_mine():
                    return
                if message.user.pk in online_now:
                    yield message, Outcome("skipped", reason=Reason.ONLINE)
                    continue
                if signer is None:
                    try:
                        signer = Vapid.from_string(private_key=vapid.keys().private_key)
                    except Exception as exc:  # the database is down, or the configured key is bad
                        yield message, Outcome("retry", error=_describe(exc))
                        continue
                yield message, self._send_one(message, signer, session)
        finally:
            session.close()

    def _send_one(self, message: Message, signer, session) -> Outcome:
        subscriptions = list(PushSubscription.objects.filter(user_id=message.user.pk).order_by("pk"))
        if not subscriptions:
            return Outcome("skipped", reason=Reason.NO_SUBSCRIPTION)
        if message.digest:  # the reader's hourly or daily digest: one push for all their held rows
            data = digest_payload([d.notification for d in message.deliveries], message.locale)
        else:
            data = payload(message.deliveries[0].notification, message.user.pk, message.locale)
        sent, gone, retry, failed = [], [], [], []
        for subscription in subscriptions:
            kind, error = _post(subscription, data, signer, session)
            {"sent": sent, "gone": gone, "retry": retry, "failed": failed}[kind].append((subscription, error))
        now = timezone.now()
        if sent:
            PushSubscription.objects.filter(pk__in=[s.pk for s, _ in sent]).update(last_used_at=now)
        for subscription, error in gone:
            # By endpoint too: a browser that subscribed again since keeps its new keys' row.
            PushSubscription.objects.filter(pk=subscription.pk, endpoint=subscription.endpoint,
                                            p256dh=subscription.p256dh).delete()
            logger.info("push subscription %s of user %s ended (%s); deleted", subscription.pk,
                        subscription.user_id, error)
        if sent:
            return SENT
        if retry:
            return Outcome("retry", error=retry[0][1])
        if failed:
            return Outcome("failed", error=failed[0][1])
        if PushSubscription.objects.filter(user_id=message.user.pk).exists():
            return Outcome("retry", error="the subscriptions tried have ended; a newer one is left to try")
        return Outcome("skipped", reason=Reason.GONE)


def _post(subscription: PushSubscription, data: bytes, signer, session) -> tuple[str, str]:
    """("sent" | "gone" | "retry" | "failed", what went wrong) for one subscription."""
    where = urlsplit(subscription.endpoint).netloc  # never the whole endpoint: it is a credential
    try:
        webpush(
            {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
            data=data,
            vapid_private_key=signer,
            # A fresh dict per post: pywebpush writes the endpoint's origin ("aud") and "exp" into it.
            vapid_claims={"sub": clarion_settings.VAPID_SUBJECT},
            ttl=int(clarion_settings.PUSH_TTL),
            timeout=POST_TIMEOUT,
            requests_session=session,
        )
    except WebPushException as exc:
        status = exc.status_code
        if status is None:
            return "failed", f"{where}: {exc.message}"[:500]
        reason = getattr(exc.response, "reason", "") or ""
        error = f"{where} answered {status} {reason}".strip()[:500]
        if status in (404, 410):
            return "gone", error
        if status == 429 or status >= 500:
            return "retry", error
        return "failed", error
    except requests.RequestException as exc:
        return "retry", f"{where}: {_describe(exc)}"[:500]
    except (ValueError, TypeError) as exc:  # keys the encryption cannot use (the API checks them)
        return "failed", f"{where}: {_describe(exc)}"[:500]
    except VapidException as exc:
        # CLARION["VAPID_SUBJECT"] is not a mailto: or https: address: no push can be signed.
        logger.error("push: cannot sign with VAPID_SUBJECT %r: %s", clarion_settings.VAPID_SUBJECT, exc)
        return "failed", f"VAPID: {exc}"[:500]
    return "sent", ""


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
