"""What a notification is about: its category (CLARION["CATEGORIES"]) and optional topic.

A category is what a reader turns on or off ("comments"), unless it is locked ("deadlines"); a
topic names the thing it concerns ("project:7", "room:thesis-a"), which a reader can mute.
"""

import re

from clarion.conf import clarion_settings

# Channels a category may go out on: in the app, by email when still unread, by Web Push.
CHANNELS = ("in_app", "email", "push")
_KEY = re.compile(r"^[a-z0-9_-]{1,32}$")
# A kind, then ":"-separated parts: "project:7", "room:thesis-a". Parts are what ids and room keys are.
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}(?::[A-Za-z0-9_.-]{1,64})*$")
MAX_TOPIC_CHARS = 100


def category_error(value) -> str | None:
    """Why ``value`` is not a category of this site, or None."""
    known = clarion_settings.CATEGORIES
    if isinstance(value, str) and value in known:
        return None
    return f"unknown category {value!r}; expected one of: {', '.join(known)}"


def topic_error(value) -> str | None:
    """Why ``value`` cannot be a topic, or None ("" is no topic)."""
    return _key_error("topic", value, "project:7\" or \"room:thesis-a")


def group_key_error(value) -> str | None:
    """Why ``value`` cannot be a group key, or None ("" is no group): the form of a topic."""
    return _key_error("group_key", value, "project:7:comment")


def _key_error(name: str, value, example: str) -> str | None:
    if value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TOPIC_CHARS or not _TOPIC.match(value):
        return (f"{name} must be at most {MAX_TOPIC_CHARS} characters like \"{example}\" "
                f"(a kind, then ':'-separated letters, digits, '_', '-' or '.'), got {value!r}")
    return None


def project_topic(project_id) -> str:
    return f"project:{project_id}"


def configuration_errors(categories, default) -> list[str]:
    """What is wrong with a CATEGORIES setting and its DEFAULT_CATEGORY (for the start-up check)."""
    if not isinstance(categories, dict) or not categories:
        return [f"CLARION['CATEGORIES'] must be a non-empty dict of key -> {{label, locked, channels}}, "
                f"got {categories!r}"]
    problems = []
    for key, spec in categories.items():
        where = f"CLARION['CATEGORIES'][{key!r}]"
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"{where}: a key is 1-32 lowercase letters, digits, '_' or '-'")
        if not isinstance(spec, dict):
            problems.append(f"{where} must be a dict with label, locked and channels, got {spec!r}")
            continue
        unknown = set(spec) - {"label", "locked", "channels", "email_delay"}
        if unknown:
            problems.append(f"{where} has unknown keys {sorted(unknown)}; known: label, locked, channels, email_delay")
        delay = spec.get("email_delay", 0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
            problems.append(f"{where}['email_delay'] must be a number of seconds >= 0, got {delay!r}")
        if not isinstance(spec.get("label"), str) or not spec.get("label", "").strip():
            problems.append(f"{where}['label'] must be a non-empty string")
        if not isinstance(spec.get("locked", False), bool):
            problems.append(f"{where}['locked'] must be True or False")
        channels = spec.get("channels", ["in_app"])
        if not isinstance(channels, (list, tuple)) or any(c not in CHANNELS for c in channels):
            problems.append(f"{where}['channels'] must be a list of {', '.join(CHANNELS)}, got {channels!r}")
    if default not in categories:
        problems.append(f"CLARION['DEFAULT_CATEGORY'] = {default!r} is not in CLARION['CATEGORIES']")
    return problems


def email_delay(category: str) -> float:
    """Seconds a notification of ``category`` may stay unread before it is mailed."""
    spec = clarion_settings.CATEGORIES.get(category) or {}
    return float(spec.get("email_delay", clarion_settings.EMAIL_UNREAD_AFTER))


def is_locked(category: str) -> bool:
    return bool((clarion_settings.CATEGORIES.get(category) or {}).get("locked"))
