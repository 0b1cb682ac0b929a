"""Email: a notification still unread after its category's delay, or a digest of several.

Sent through Django's email backend (the host project's EMAIL_BACKEND, django-anymail
included; the standalone server's CLARION_EMAIL_URL). Rendered from templates a host project
may override (``clarion/email/<category>.txt`` and ``.html``, else ``notification.*``;
``digest.*``), in the reader's language. Every mail carries RFC 8058 one-click unsubscribe
headers, and a Message-ID made from its delivery row: a receiving system that sees the same
one twice knows it is a repeat.
"""

from __future__ import annotations

import logging
import smtplib
import socket

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import TemplateDoesNotExist
from django.template.loader import select_template
from django.utils import translation
from django.utils.translation import gettext, ngettext

from clarion.conf import clarion_settings
from clarion.delivery import links, unsubscribe
from clarion.delivery.channels import SENT, DeliveryChannel, Message, Outcome
from clarion.notifications import categories
from clarion.notifications.payloads import localized

logger = logging.getLogger("clarion.delivery.email")

# Errors worth another try: the server is down, slow, or said "try later" (4xx).
_TRANSIENT = (OSError, socket.timeout, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)


def email_field() -> str:
    return get_user_model().get_email_field_name()


class EmailChannel(DeliveryChannel):
    def __init__(self):
        super().__init__(name="email")

    def reachable(self, users: dict) -> set:
        field = email_field()
        return {user_id for user_id, user in users.items() if (getattr(user, field, "") or "").strip()}

    def delay(self, category: str) -> float:
        return categories.email_delay(category)

    def send(self, messages: list[Message], still_mine):
        connection = get_connection(fail_silently=False)
        try:
            opened = False
            for message in messages:
                if not still_mine():
                    return
                mail = self.compose(message)
                try:
                    if not opened:
                        connection.open()
                        opened = True
                    connection.send_messages([mail])
                except smtplib.SMTPRecipientsRefused as exc:
                    # 4xx: "not now" (a full mailbox, greylisting); 5xx: the address is refused for good.
                    codes = [code for code, _ in exc.recipients.values()]
                    temporary = codes and all(400 <= code < 500 for code in codes)
                    yield message, Outcome("retry" if temporary else "failed", error=_describe(exc))
                except smtplib.SMTPResponseException as exc:
                    if 400 <= exc.smtp_code < 500:
                        yield message, Outcome("retry", error=_describe(exc))
                    else:
                        yield message, Outcome("failed", error=_describe(exc))
                except _TRANSIENT as exc:
                    # The server is unreachable: this one and the rest wait for the next try.
                    yield message, Outcome("retry", error=_describe(exc))
                    for rest in messages[messages.index(message) + 1:]:
                        yield rest, Outcome("retry", error=_describe(exc))
                    return
                else:
                    yield message, SENT
        finally:
            try:
                connection.close()
            except Exception:  # closing a connection that failed: nothing to keep
                pass

    def compose(self, message: Message) -> EmailMultiAlternatives:
        user = message.user
        first = message.deliveries[0]
        category = first.notification.category
        with translation.override(message.locale):
            if message.digest:
                items = [_item(d.notification, message.locale) for d in message.deliveries]
                limit = clarion_settings.DIGEST_MAX_ITEMS
                context = {"items": items[:limit], "more": max(0, len(items) - limit), "count": len(items)}
                subject = ngettext("%(count)d unread notification", "%(count)d unread notifications",
                                   len(items)) % {"count": len(items)}
                names = ["clarion/email/digest"]
                unsubscribe_url = links.absolute(unsubscribe.path(user.pk, unsubscribe.ALL_CATEGORIES))
                unsubscribe_label = gettext("Stop these emails")
            else:
                item = _item(first.notification, message.locale)
                context = {"item": item, **item}
                subject = item["title"]
                names = [f"clarion/email/{category}", "clarion/email/notification"]
                unsubscribe_url = links.absolute(unsubscribe.path(user.pk, category))
                label = (clarion_settings.CATEGORIES.get(category) or {}).get("label", category)
                unsubscribe_label = gettext("Stop emails about %(category)s") % {"category": gettext(label)}
            context.update({
                "user": user, "site_url": links.site_url(), "inbox_url": links.absolute("/"),
                "unsubscribe_url": unsubscribe_url, "unsubscribe_label": unsubscribe_label,
                "locked": categories.is_locked(category) and not message.digest,
                "LANGUAGE_CODE": message.locale,
            })
            text = select_template([f"{name}.txt" for name in names]).render(context)
            try:
                html = select_template([f"{name}.html" for name in names]).render(context)
            except TemplateDoesNotExist:
                html = None
        headers = {
            "Message-ID": _message_id(message),
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",  # RFC 3834: no vacation replies to a notification
        }
        mail = EmailMultiAlternatives(subject=" ".join(subject.split())[:200], body=text,
                                      from_email=settings.DEFAULT_FROM_EMAIL,
                                      to=[getattr(user, email_field())], headers=headers)
        if html is not None:
            mail.attach_alternative(html, "text/html")
        return mail


def _item(notification, locale: str) -> dict:
    title, message = localized(notification, locale)
    return {"id": notification.pk, "title": title, "message": message, "category": notification.category,
            "url": links.absolute(notification.link or f"/?notification={notification.pk}"),
            "created_at": notification.created_at}


def _message_id(message: Message) -> str:
    domain = links.mail_domain()
    kind = "digest" if message.digest else "delivery"
    return f"<clarion.{kind}.{message.deliveries[0].pk}@{domain}>"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
