"""What a reader wants: channels per category, muted topics, language.

Stored as one Preferences row per reader who changed anything (only what differs from the
category's defaults), read with the watermarks in one query (clarion.notifications.reader).
After a change commits, every socket of the reader is told: it filters by the new settings from
then on and forwards a ``preferences_changed`` frame to its tab.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from clarion.conf import clarion_settings
from clarion.notifications import categories, queries, schedule
from clarion.notifications import reader as readers
from clarion.notifications.models import Preferences
from clarion.protocol import ServerFrameType, encode_frame, server_frame
from clarion.realtime import publish


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def locales() -> list[str]:
    """The languages a reader may choose: the site's LANGUAGES."""
    return [code for code, _ in settings.LANGUAGES]


def document(reader: readers.Reader, delivery: dict | None = None) -> dict:
    """GET /api/preferences/ and the preferences_changed frame (``delivery``: the row's digest
    and quiet-hours fields, read when not given)."""
    if delivery is None:
        delivery = delivery_settings(reader.user_id)
    return {
        "locale": reader.locale,
        **delivery,
        "categories": [
            {"key": key, "label": spec.get("label", key), "locked": bool(spec.get("locked")),
             "channels": {channel: reader.channel_on(key, channel) for channel in categories.CHANNELS}}
            for key, spec in clarion_settings.CATEGORIES.items()
        ],
    }


DELIVERY_FIELDS = ("digest", "digest_hour", "time_zone", "quiet_hours")


def delivery_settings(user_id) -> dict:
    """How email and push reach the reader (clarion.delivery): digest per channel, the digest's
    hour and the reader's zone, quiet hours."""
    row = Preferences.objects.filter(user_id=user_id).values(*DELIVERY_FIELDS).first() or {}
    digest = row.get("digest") or {}
    return {
        "digest": {channel: digest.get(channel, "off") for channel in DIGEST_CHANNELS},
        "digest_hour": row.get("digest_hour", 8),
        "time_zone": row.get("time_zone", ""),  # "": the site's TIME_ZONE (a client may offer its own)
        # Rebuilt in one key order (PostgreSQL's jsonb stores {"to", "from"}).
        "quiet_hours": _quiet(row.get("quiet_hours")),
    }


DIGEST_CHANNELS = ("email", "push")


def _quiet(value):
    return {"from": value["from"], "to": value["to"]} if isinstance(value, dict) and {"from", "to"} <= set(value) else None


def _delivery_errors(changes: dict) -> dict:

    errors = {}
    if "digest" in changes:
        digest = changes["digest"]
        if not isinstance(digest, dict):
            errors["digest"] = 'expected an object like {"email": "daily"}'
        else:
            for channel, mode in digest.items():
                if channel not in DIGEST_CHANNELS:
                    errors[f"digest.{channel}"] = f"digests are made for: {', '.join(DIGEST_CHANNELS)}"
                elif mode not in schedule.DIGEST_MODES:
                    errors[f"digest.{channel}"] = f"expected one of: {', '.join(schedule.DIGEST_MODES)}, got {mode!r}"
    if "digest_hour" in changes:
        hour = changes["digest_hour"]
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            errors["digest_hour"] = f"expected an hour from 0 to 23, got {hour!r}"
    if "time_zone" in changes and (problem := schedule.zone_error(changes["time_zone"])):
        errors["time_zone"] = problem
    if "quiet_hours" in changes:
        errors.update(schedule.quiet_hours_errors(changes["quiet_hours"]))
    return errors


def mutes_document(reader: readers.Reader, now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    return [{"topic": topic, "until": _timestamp(until)} for topic, until in sorted(reader.mutes.items())
            if until is None or until > now]


def update(user_id, role, changes: dict) -> dict:
    """Apply a PATCH: ``{"locale"?: str, "categories"?: {key: {channel: bool}}}``. Raises
    ValidationError naming each refused field (a locked category cannot be turned off)."""
    errors = {}
    locale = changes.get("locale")
    if "locale" in changes and not (locale == "" or locale in locales()):
        errors["locale"] = f"expected one of: {', '.join(locales())} (or \"\" for the site's language), got {locale!r}"
    wanted = changes.get("categories", {})
    if not isinstance(wanted, dict):
        errors["categories"] = 'expected an object like {"comment": {"in_app": false}}'
        wanted = {}
    for key, channels in wanted.items():
        field = f"categories.{key}"
        spec = clarion_settings.CATEGORIES.get(key)
        if spec is None:
            errors[field] = f"unknown category {key!r}; expected one of: {', '.join(clarion_settings.CATEGORIES)}"
        elif not isinstance(channels, dict) or not channels:
            errors[field] = 'expected an object of channel -> true or false, e.g. {"in_app": false}'
        elif unknown := [c for c in channels if c not in categories.CHANNELS]:
            errors[field] = f"unknown channels {unknown}; expected: {', '.join(categories.CHANNELS)}"
        elif any(not isinstance(on, bool) for on in channels.values()):
            errors[field] = "each channel is true or false"
        elif spec.get("locked") and any(on != (c in spec.get("channels", ["in_app"])) for c, on in channels.items()):
            errors[field] = f"{spec.get('label', key)} is locked: it cannot be changed"
    errors.update(_delivery_errors(changes))
    unknown_fields = set(changes) - {"locale", "categories", *DELIVERY_FIELDS}
    for name in unknown_fields:
        errors[name] = f"unknown field; expected locale, categories, {', '.join(DELIVERY_FIELDS)}"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row, _ = Preferences.objects.select_for_update().get_or_create(user_id=user_id)
        if "locale" in changes:
            row.locale = locale
        merged = {key: dict(value) for key, value in row.channels.items()}
        for key, channels in wanted.items():
            defaults = clarion_settings.CATEGORIES[key].get("channels", ["in_app"])
            entry = merged.setdefault(key, {})
            for channel, on in channels.items():
                if on == (channel in defaults):
                    entry.pop(channel, None)  # back to the default: store nothing
                else:
                    entry[channel] = on
            if not entry:
                del merged[key]
        row.channels = merged
        if "digest" in changes:
            row.digest = {**(row.digest or {}), **changes["digest"]}
        for name in ("digest_hour", "time_zone", "quiet_hours"):
            if name in changes:
                setattr(row, name, changes[name])
        row.save()
        announce_on_commit(user_id, role)
    return document(readers.load(user_id, role))


def mute(user_id, role, topic, until: datetime | None = None) -> dict:
    """Mute ``topic`` for the reader until ``until`` (None: until unmuted)."""
    errors = {}
    if problem := categories.topic_error(topic):
        errors["topic"] = problem
    elif not topic:
        errors["topic"] = 'a topic is required, e.g. "project:7"'
    if until is not None and until <= datetime.now(timezone.utc):
        errors["until"] = "until must be in the future (omit it to mute until unmuted)"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row, _ = Preferences.objects.select_for_update().get_or_create(user_id=user_id)
        mutes = _active(row.mutes)
        if topic not in mutes and len(mutes) >= clarion_settings.MAX_MUTES:
            raise ValidationError({"topic": f"at most {clarion_settings.MAX_MUTES} topics can be muted; unmute one first"})
        mutes[topic] = _timestamp(until)
        row.mutes = mutes
        row.save()
        announce_on_commit(user_id, role)
    return {"topic": topic, "until": _timestamp(until)}


def unmute(user_id, role, topic) -> bool:
    """Whether ``topic`` was muted (and is no more)."""
    with transaction.atomic():
        row = Preferences.objects.select_for_update().filter(user_id=user_id).first()
        if row is None:
            return False
        mutes = _active(row.mutes)
        if topic not in mutes:
            return False
        del mutes[topic]
        row.mutes = mutes
        row.save()
        announce_on_commit(user_id, role)
    return True


def _active(raw: dict) -> dict:
    """The stored mutes without those whose time has passed (they are dropped on each write)."""
    now = datetime.now(timezone.utc)
    return {topic: until for topic, until in (raw or {}).items()
            if until is None or readers.parse_mutes({topic: until})[topic] > now}


def announce_on_commit(user_id, role) -> None:
    def announce():
        reader = readers.load(user_id, role)
        data = {**document(reader), "mutes": mutes_document(reader), **queries.counts(user_id, role, reader).as_dict()}
        raw_mutes = {topic: _timestamp(until) for topic, until in reader.mutes.items()}
        publish.publish_user_control(user_id, {
            "action": "preferences", "user_id": str(user_id), "channels": reader.channels, "mutes": raw_mutes,
            "locale": reader.locale,
            "frame": encode_frame(server_frame(ServerFrameType.PREFERENCES_CHANGED, data)),
        })

    transaction.on_commit(announce)
