"""When a held message may go: the reader's digest time, the end of their quiet hours (read by
clarion.delivery; checked here, where the reader's preferences are).

Times are computed in the reader's zone (zoneinfo), so a daily digest at 08:00 in Bangkok stays
at 08:00 there whatever the server's zone, and quiet hours may span midnight (22:00-07:00).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings

DIGEST_MODES = ("off", "hourly", "daily")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def zone(name: str) -> ZoneInfo:
    """The reader's zone ("" or an unknown name: the site's TIME_ZONE)."""
    try:
        return ZoneInfo(name or settings.TIME_ZONE or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_error(name) -> str | None:
    if name == "":
        return None
    if not isinstance(name, str) or len(name) > 64 or name not in _zones():
        return f"expected an IANA time zone such as \"Asia/Bangkok\" (or \"\" for the site's), got {name!r}"
    return None


_ZONES: set | None = None


def _zones() -> set:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() | {"UTC"}
    return _ZONES


def clock_error(value) -> str | None:
    if not isinstance(value, str) or not _CLOCK.match(value):
        return f"expected a time of day as \"HH:MM\" (24-hour), got {value!r}"
    return None


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def next_digest(mode: str, hour: int, zone_name: str, now: datetime) -> datetime:
    """The first digest time strictly after ``now``: the next full hour, or the next ``hour``:00
    in the reader's zone."""
    local = now.astimezone(zone(zone_name))
    if mode == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return start.astimezone(timezone.utc)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    # Re-localise: across a DST change "tomorrow at 8" is not 24 hours away.
    candidate = candidate.replace(tzinfo=None).replace(tzinfo=zone(zone_name))
    return candidate.astimezone(timezone.utc)


def quiet_until(quiet: dict | None, zone_name: str, at: datetime) -> datetime | None:
    """The end of the quiet hours ``at`` falls in, or None when it falls in none."""
    if not quiet:
        return None
    try:
        start, end = _clock(quiet["from"]), _clock(quiet["to"])
    except (KeyError, TypeError, ValueError):
        return None
    if start == end:
        return None
    tz = zone(zone_name)
    local = at.astimezone(tz)
    now_clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= now_clock < end
    else:  # spans midnight
        inside = now_clock >= start or now_clock < end
    if not inside:
        return None
    day = local.date() if now_clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(timezone.utc)


def quiet_hours_errors(value) -> dict:
    """Field errors of a PATCHed quiet_hours (None turns them off)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) != {"from", "to"}:
        return {"quiet_hours": 'expected {"from": "22:00", "to": "07:00"} or null'}
    errors = {}
    for key in ("from", "to"):
        if problem := clock_error(value[key]):
            errors[f"quiet_hours.{key}"] = problem
    if not errors and value["from"] == value["to"]:
        errors["quiet_hours"] = "from and to must differ"
    return errors
