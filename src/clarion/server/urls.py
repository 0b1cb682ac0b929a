from django.contrib import admin
from django.urls import include, path

from clarion.server.views import metrics_view, service_worker, ui_page, ui_session, ui_token, ui_users

# The web UI's pages: one shell, the script draws what the path names (clients/web).
ui_pages = [
    path("", ui_page, name="clarion-home"),
    path("projects/<int:project_id>/", ui_page, name="clarion-ui-project"),
    path("rooms/<slug:room>/", ui_page, name="clarion-ui-room"),
    path("admin/send/", ui_page, name="clarion-ui-send"),
    path("admin/health/", ui_page, name="clarion-ui-health"),
    path("admin/notifications/<int:notification_id>/deliveries/", ui_page, name="clarion-ui-deliveries"),
    path("settings/", ui_page, name="clarion-ui-settings"),
]

urlpatterns = [
    *ui_pages,
    path("ui/session/", ui_session, name="clarion-ui-session"),
    path("ui/session/token/", ui_token, name="clarion-ui-token"),
    path("ui/users/", ui_users, name="clarion-ui-users"),
    path("metrics", metrics_view, name="clarion-metrics"),
    # Django's admin (staff users): /admin/ is the web UI's.
    path("django-admin/", admin.site.urls),
    path("sw.js", service_worker, name="clarion-service-worker"),
    path("", include("clarion.api.urls")),
]
