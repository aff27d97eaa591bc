"""The site's URLconf: removal's pages and APIs, accounts, the admin, the language picker and its JavaScript
catalog, the OpenAPI document, the health and metrics endpoints; and the error pages' handlers."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog, set_language

from accounts import password_views
from bgsite.allowed_methods import FORM_PAGE_METHODS, PAGE_HANDLERS, methods_allowed
from removal.ops import health
from removal.web import openapi_views
from removal.web.urls import api_urlpatterns, page_urlpatterns, pixlab_urlpatterns

urlpatterns = [
    path("", include(page_urlpatterns)),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include(api_urlpatterns)),
    path("", include(pixlab_urlpatterns)),
    # The admin's log-in, throttled as the site's (before admin.site's own, which counts no attempt).
    path("admin/login/", password_views.ThrottledAdminLoginView.as_view(), name="admin-login"),
    path("admin/", admin.site.urls),
    # The language picker posts here (Django's set_language, which remembers it in a cookie; a GET goes back to the
    # page unchanged); static/js gets its strings from the catalog.
    path("i18n/setlang/", methods_allowed(*FORM_PAGE_METHODS)(set_language), name="set_language"),
    # Open to all and read-only, as the sample cutout: another method is the site's 405 (bgsite.allowed_methods).
    path("jsi18n/", JavaScriptCatalog.as_view(http_method_names=PAGE_HANDLERS), name="javascript-catalog"),
    path("api/schema", openapi_views.schema, name="api-schema"),
    path("api/docs", openapi_views.docs, name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
]

# Under the API prefixes these answer in that API's JSON error shape (removal.web.error_pages).
handler400 = "removal.web.error_pages.bad_request"
handler403 = "removal.web.error_pages.permission_denied"
handler404 = "removal.web.error_pages.page_not_found"
handler500 = "removal.web.error_pages.server_error"
