"""Query filters of GET /api/notifications/, by django-filter: a malformed value is a 400 naming
the parameter, never ignored."""

import django_filters
from django.db.models import Q

from clarion.conf import clarion_settings
from clarion.notifications import queries

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _categories():
    # Called per request: the choices follow CLARION["CATEGORIES"] (a test may change it).
    return [(key, spec.get("label", key)) for key, spec in clarion_settings.CATEGORIES.items()]


class NotificationFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=_categories, help_text="Only this category.")
    topic = django_filters.CharFilter(max_length=100, help_text='Only this topic, e.g. "project:7".')
    unread = django_filters.ChoiceFilter(
        choices=[(value, value) for value in (*_TRUE, *_FALSE)], method="filter_unread",
        help_text="true (also 1, yes): unread only; false (0, no): read only.",
    )
    archived = django_filters.ChoiceFilter(
        choices=[(value, value) for value in (*_TRUE, *_FALSE)], method="decided_with_the_inbox",
        help_text="true: the archived notifications only (they are left out by default).",
    )
    snoozed = django_filters.ChoiceFilter(
        choices=[(value, value) for value in (*_TRUE, *_FALSE)], method="decided_with_the_inbox",
        help_text="true: the notifications snoozed until later only (they are left out by default).",
    )
    include_muted = django_filters.ChoiceFilter(
        choices=[(value, value) for value in (*_TRUE, *_FALSE)], method="decided_with_the_inbox",
        help_text="true: also what the reader muted or turned off in their preferences.",
    )
    grouped = django_filters.ChoiceFilter(
        choices=[(value, value) for value in (*_TRUE, *_FALSE)], method="decided_with_the_inbox",
        help_text="true: groups of notifications sharing a group_key instead of items (page= paginates).",
    )
    q = django_filters.CharFilter(max_length=200, method="filter_text",
                                  help_text="Only notifications whose title or message contains this text "
                                            "(case-insensitive).")

    def filter_unread(self, queryset, name, value):
        # ``is_read`` is the annotation of queries.visible_to: the reader's own read state.
        return queryset.filter(is_read=value.lower() in _FALSE)

    def decided_with_the_inbox(self, queryset, name, value):
        return queryset  # applied together, with their defaults, in filter_queryset

    def filter_queryset(self, queryset):
        rows = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        return queries.narrow_to_inbox(
            rows, self.request.clarion_reader,  # loaded by the view with the queryset
            archived=_yes(data.get("archived")), snoozed=_yes(data.get("snoozed")),
            include_muted=_yes(data.get("include_muted")),
        )

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(message__icontains=value))


def _yes(value) -> bool:
    return bool(value) and value.lower() in _TRUE
