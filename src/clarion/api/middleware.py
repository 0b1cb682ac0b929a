"""Database outages as HTTP 503, not 500.

A REST call that cannot reach the database is worth retrying: answer 503 with Retry-After
and a JSON body the clients read, instead of a server error page. The standalone server
installs it; a host site adds "clarion.api.middleware.DatabaseUnavailableMiddleware" to its
MIDDLEWARE to get the same.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

logger = logging.getLogger("clarion.api")

RETRY_AFTER_SECONDS = 2


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None  # a bug, or a constraint: a real server error
        logger.warning("%s %s: database unavailable (%s)", request.method, request.path, type(exception).__name__)
        response = JsonResponse({"detail": "The database is unavailable; try again shortly."}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


__all__ = ["DatabaseUnavailableMiddleware"]
