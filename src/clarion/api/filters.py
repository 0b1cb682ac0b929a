"""Query filters of GET /api/notifications/, by django-filter: a malformed value is a 400 naming
the parameter, never ignored."""

import django_filters
from django.db.models import Q

from clarion.conf import clarion_settings

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
    q = django_filters.CharFilter(max_length=200, method="filter_text",
                                  help_text="Only notifications whose title or message contains this text "
                                            "(case-insensitive).")

    def filter_unread(self, queryset, name, value):
        # ``is_read`` is the annotation of queries.visible_to: the reader's own read state.
        return queryset.filter(is_read=value.lower() in _FALSE)

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(message__icontains=value))
