from django.urls import include, path

urlpatterns = [
    # The site's own routes would sit here; Clarion adds /api/auth/token/, /api/notifications/, ...
    path("", include("clarion.api.urls")),
]
