from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def home(request):
    """A small live page: log in, watch notifications arrive, mark them read."""
    return render(request, "clarion/home.html", {"debug": settings.DEBUG})


def metrics_view(request):
    # Local only until the health issue adds a token setting: metrics reveal traffic volume.
    if request.META.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
        return HttpResponse(status=403)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
