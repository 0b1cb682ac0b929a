"""URL patterns a host site includes: ``path("", include("clarion.api.urls"))``."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter
from clarion.api.auth_views import LogoutView, ThrottledTokenObtainPairView, ThrottledTokenRefreshView
from clarion.api.deliveries import DeliveriesView, unsubscribe_view
from clarion.api.docs import RedocView, SwaggerView
from clarion.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
from clarion.api.projects import ProjectViewSet, RoomViewSet, StatusViewSet
from clarion.api.push import PushReadView, PushSubscriptionsView, VapidPublicKeyView
from clarion.api.views import MeView, MuteDetailView, MutesView, NotificationViewSet, PreferencesView, TicketView

router = SimpleRouter()
router.register("notifications", NotificationViewSet, basename="notification")
router.register("projects", ProjectViewSet, basename="project")
router.register("project-statuses", StatusViewSet, basename="project-status")
router.register("rooms", RoomViewSet, basename="room")

urlpatterns = [
    path("api/auth/token/", ThrottledTokenObtainPairView.as_view(), name="clarion-token"),
    path("api/auth/token/refresh/", ThrottledTokenRefreshView.as_view(), name="clarion-token-refresh"),
    path("api/auth/logout/", LogoutView.as_view(), name="clarion-logout"),
    path("api/auth/ticket/", TicketView.as_view(), name="clarion-ticket"),
    path("api/me/", MeView.as_view(), name="clarion-me"),
    path("api/preferences/", PreferencesView.as_view(), name="clarion-preferences"),
    path("api/mutes/", MutesView.as_view(), name="clarion-mutes"),
    path("api/mutes/<str:topic>/", MuteDetailView.as_view(), name="clarion-mute"),
    path("api/notifications/<str:pk>/deliveries/", DeliveriesView.as_view(), name="clarion-deliveries"),
    path("api/unsubscribe/<str:token>/", unsubscribe_view, name="clarion-unsubscribe"),
    path("api/push/vapid-public-key/", VapidPublicKeyView.as_view(), name="clarion-push-key"),
    path("api/push/subscriptions/", PushSubscriptionsView.as_view(), name="clarion-push-subscriptions"),
    path("api/push/read/", PushReadView.as_view(), name="clarion-push-read"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="clarion-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="clarion-schema"), name="clarion-docs"),
    path("api/redoc/", RedocView.as_view(url_name="clarion-schema"), name="clarion-redoc"),
]
