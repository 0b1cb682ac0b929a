"""OpenAPI: Clarion's JWT authentication (simplejwt's plus ended sessions) is the same bearer
scheme as simplejwt's, which drf-spectacular knows only by its exact class."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class ClarionJWTScheme(SimpleJWTScheme):
    target_class = "clarion.auth.authentication.JWTAuthentication"
