from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from removal.urls import api_urlpatterns, page_urlpatterns, pixlab_urlpatterns


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", include(page_urlpatterns)),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include(api_urlpatterns)),
    path("", include(pixlab_urlpatterns)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
