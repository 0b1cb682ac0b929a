from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """Cursor pagination: stable under inserts, unlike page numbers."""

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
