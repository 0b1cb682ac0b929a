from rest_framework.pagination import CursorPagination, PageNumberPagination


class NewestFirst(CursorPagination):
    """Cursor pagination: stable under inserts, unlike page numbers."""

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class GroupPages(PageNumberPagination):
    """Groups of ?grouped=true: their order (by their latest item) moves as items arrive, which
    a cursor cannot follow; page numbers are good enough for the first pages people look at."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
