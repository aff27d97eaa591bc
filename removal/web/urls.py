"""removal's URLs, in the three groups bgsite/urls.py mounts: the batch API (under /api/v1/), PixLab's /bgremove,
/store and remove.bg's /v1.0/ (at the root), and the pages."""

from django.urls import path

from removal.web import api, pixlab, removebg, views

api_urlpatterns = [
    path("batches", api.batches, name="api-batches"),
    path("batches/<uuid:batch_id>", api.batch_detail, name="api-batch"),
    path("batches/<uuid:batch_id>/files", api.batch_files, name="api-batch-files"),
    path("batches/<uuid:batch_id>/zip", api.batch_zip, name="api-batch-zip"),
    path("batches/<uuid:batch_id>/manifest", api.batch_manifest, name="api-batch-manifest"),
    path("batches/<uuid:batch_id>/rerun", api.batch_rerun, name="api-batch-rerun"),
    path("batches/<uuid:batch_id>/improve", api.batch_improve, name="api-batch-improve"),
    path("items/<uuid:item_id>", api.item_detail, name="api-item"),
    path("items/<uuid:item_id>/result", api.item_result, name="api-item-result"),
    path("items/<uuid:item_id>/mask", api.item_mask, name="api-item-mask"),
    path("items/<uuid:item_id>/review", api.item_review, name="api-item-review"),
    path("items/<uuid:item_id>/original", api.item_original, name="api-item-original"),
    path(
        "items/<uuid:item_id>/result/thumbnail",
        api.item_thumbnail,
        {"of": "result"},
        name="api-item-result-thumbnail",
    ),
    path(
        "items/<uuid:item_id>/original/thumbnail",
        api.item_thumbnail,
        {"of": "original"},
        name="api-item-original-thumbnail",
    ),
    path(
        "items/<uuid:item_id>/original/display",
        api.item_thumbnail,
        {"of": "original", "kind": "display"},
        name="api-item-original-display",
    ),
    path("models", api.models, name="api-models"),
    path("bgremove", pixlab.bgremove),
    path("store", pixlab.store),
    path("store/<uuid:image_id>", pixlab.stored_image, name="api-stored-image"),
]

# PixLab's and remove.bg's own paths, so their clients only change the base URL.
pixlab_urlpatterns = [
    path("bgremove", pixlab.bgremove, name="bgremove"),
    path("store", pixlab.store, name="store"),
    path("v1.0/removebg", removebg.removebg, name="removebg"),
    path("v1.0/account", removebg.account, name="removebg-account"),
]

page_urlpatterns = [
    path("", views.home, name="home"),
    path("sample/cutout.png", views.sample_cutout, name="sample-cutout"),
    path("batches/", views.batch_list, name="batch-list"),
    path("batches/<uuid:batch_id>/", views.batch_detail, name="batch-detail"),
    # The account page: API keys (accounts) beside this app's usage and webhook deliveries.
    path("accounts/", views.dashboard, name="dashboard"),
    # The command-line client as an sdist, so that users of this server can pip-install it.
    path("client/bgsite-client.tar.gz", views.client_sdist, name="client-sdist"),
]
