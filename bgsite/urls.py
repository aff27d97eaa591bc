from django.contrib import admin
from django.urls import include, path

from removal import health
from removal.urls import api_urlpatterns, page_urlpatterns, pixlab_urlpatterns

urlpatterns = [
    path("", include(page_urlpatterns)),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include(api_urlpatterns)),
    path("", include(pixlab_urlpatterns)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
