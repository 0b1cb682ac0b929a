"""Notifications written in the reader's language: message templates rendered with Django's
gettext catalogues.

A notification created from a template (``template="project.status_changed", params={...}``)
stores the key and the parameters, and its title and message in the site's language (what a
search and a client of an older release see). Each reader gets them rendered in their locale:
their preference, else ``CLARION["LOCALE_RESOLVER"](user)``, else the site's ``LANGUAGE_CODE``.
A missing translation falls back to the English source text, as gettext does.

Clarion's own notifications are registered here; a host project registers its own with
``register`` (their texts marked with ``gettext_noop`` so that ``makemessages`` finds them).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_noop, ngettext

from clarion.conf import clarion_settings


@dataclass(frozen=True)
class MessageTemplate:
    key: str
    title: str  # a msgid with %(name)s placeholders
    message: str = ""
    # For a list's group of several: (singular, plural) msgids taking %(count)s and the params
    group_summary: tuple[str, str] | None = None


_TEMPLATES: dict[str, MessageTemplate] = {}


def register(key: str, title: str, message: str = "", group_summary: tuple[str, str] | None = None) -> None:
    """Make ``key`` usable as a notification's ``template``."""
    _TEMPLATES[key] = MessageTemplate(key, title, message, group_summary)


def get(key: str) -> MessageTemplate | None:
    return _TEMPLATES.get(key)


def keys() -> list[str]:
    return sorted(_TEMPLATES)


class TemplateRefused(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check(key, params) -> None:
    """Raise TemplateRefused (naming ``template`` or ``params``) unless ``key`` is registered and
    ``params`` fill every placeholder of its texts in every language."""
    template = _TEMPLATES.get(key) if isinstance(key, str) else None
    if template is None:
        raise TemplateRefused("template", f"unknown template {key!r}; expected one of: {', '.join(keys())}")
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise TemplateRefused("params", "params must be an object of name -> value")
    for code in locales():
        try:
            render(template.key, params, code)
        except KeyError as missing:
            raise TemplateRefused("params", f"params lacks {missing.args[0]!r}, which {key!r} needs") from None
        except (TypeError, ValueError) as exc:
            raise TemplateRefused("params", f"params do not fit {key!r}: {exc}") from None


def default_locale() -> str:
    return _supported(settings.LANGUAGE_CODE) or "en"


def locales() -> list[str]:
    """The site's languages (settings.LANGUAGES), the default first."""
    default = default_locale()
    return [default, *[code for code, _ in settings.LANGUAGES if code != default]]


def _supported(code) -> str | None:
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def locale_of(user, preferred: str = "") -> str:
    """The reader's language: their preference, else the resolver's answer, else the site's."""
    found = _supported(preferred)
    if found is None and clarion_settings.LOCALE_RESOLVER is not None and user is not None:
        found = _supported(clarion_settings.LOCALE_RESOLVER(user))
    return found or default_locale()


def render(key: str, params: dict, locale: str) -> tuple[str, str]:
    """(title, message) of a template in ``locale``."""
    template = _TEMPLATES[key]
    with translation.override(locale):
        title = gettext(template.title) % params
        message = gettext(template.message) % params if template.message else ""
    return title, message


def summary(key: str, params: dict, count: int, locale: str) -> str | None:
    template = _TEMPLATES.get(key)
    if template is None or template.group_summary is None:
        return None
    singular, plural = template.group_summary
    with translation.override(locale):
        return ngettext(singular, plural, count) % {**params, "count": count}


# -- Clarion's own --------------------------------------------------------------------------------

register("project.added", gettext_noop("You were added to the project “%(project)s”"))
register("project.advisor", gettext_noop("You now advise “%(project)s”"))
register("project.status_changed", gettext_noop("“%(project)s” is now %(status)s"),
         gettext_noop("Status changed from %(old)s to %(new)s."))
register("project.comment", gettext_noop("New comment on “%(project)s”"), "%(author)s: %(excerpt)s",
         (gettext_noop("%(count)s new comment on “%(project)s”"),
          gettext_noop("%(count)s new comments on “%(project)s”")))
register("project.submission", gettext_noop("New submission in “%(project)s”"),
         gettext_noop("%(author)s submitted “%(title)s”."),
         (gettext_noop("%(count)s new submission in “%(project)s”"),
          gettext_noop("%(count)s new submissions in “%(project)s”")))
register("project.milestone", gettext_noop("New milestone in “%(project)s”"),
         gettext_noop("%(author)s submitted “%(title)s”."),
         (gettext_noop("%(count)s new milestone in “%(project)s”"),
          gettext_noop("%(count)s new milestones in “%(project)s”")))
