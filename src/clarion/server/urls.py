from django.urls import include, path

from clarion.server.views import home, metrics_view

urlpatterns = [
    path("", home, name="clarion-home"),
    path("metrics", metrics_view, name="clarion-metrics"),
    path("", include("clarion.api.urls")),
]
