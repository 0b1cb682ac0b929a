"""The ``Idempotency-Key`` header of the create endpoints (docs/protocol.md, "Retrying a create").

A request with the header runs once per key and user within 24 hours: a retry with the same
body answers the first response (status and body, marked ``Idempotent-Replayed: true``), the
same key with another body answers 409. The claim, the work and the stored answer share one
transaction (clarion.notifications.idempotency explains the protocol). Without the header, a
create costs no query more.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from clarion.notifications import idempotency

HEADER = "Idempotency-Key"

HEADER_PARAMETER = OpenApiParameter(
    HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description=("1-255 printable ASCII characters, chosen by the client per logical request. A retry with the "
                 "same key and body within 24 hours answers the first response and creates nothing; the same "
                 "key with another body answers 409."),
)


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for a different request in the last 24 hours; use a new key."


def _body(data):
    """The parsed body as plain JSON (form bodies are QueryDicts)."""
    return {key: values for key, values in data.lists()} if hasattr(data, "lists") else data


def respond_once(request, operation: str, respond) -> Response:
    """``respond()``'s answer, or the stored answer of an earlier request with this request's key."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return respond()
    try:
        key = idempotency.check_key(raw, HEADER)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    owner = idempotency.owner_of(request.user)
    with transaction.atomic():
        try:
            stored = idempotency.claim(owner, key, idempotency.fingerprint(operation, _body(request.data)))
        except idempotency.IdempotencyConflict:
            raise KeyReused() from None
        if stored is not None:
            return Response(stored.response, status=stored.status, headers={"Idempotent-Replayed": "true"})
        response = respond()  # a refusal raises, and the claim rolls back with it
        if not status.is_success(response.status_code):  # only successes are remembered
            transaction.set_rollback(True)
            return response
        idempotency.record(owner, key, response.status_code, response.data)
    return response
