"""The batch API (JSON over HTTP), used by the web page and by programs.

Each endpoint parses the request, calls a selector or service, and serializes.
Errors are raised as removal.errors exceptions and turned into
{"status": <code>, "error": <text>} replies by `api_endpoint`.
"""

import dataclasses
import uuid
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache

from removal import selectors, serializers, services
from removal.cutout.installed import measured_quality
from removal.cutout.option_parsing import yes_or_no
from removal.cutout.options import QUALITIES, Options
from removal.errors import BadRequest, NotFound
from removal.ops import limits
from removal.ops.models_run_on import models_installed, models_run_on
from removal.web import input_images, inputs
from removal.web.endpoints import api_endpoint, public_endpoint, stored_file_response, streamed

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@api_endpoint("GET", "POST")
def batches(request: HttpRequest, user: "User") -> HttpResponseBase:
    if request.method == "POST":
        return _batch_create(request, user)
    named = inputs.batch_search(request)
    page = Paginator(selectors.batches_named(user, named), settings.BATCHES_PER_PAGE).get_page(
        inputs.page_asked(request)
    )
    kept = f"&name={quote(named)}" if named else ""  # the pages of the same search
    return JsonResponse(
        {
            "batches": [
                serializers.serialize_batch_summary(batch, counts)
                for batch, counts in selectors.batches_with_counts(list(page))
            ],
            "page": page.number,
            "pages": page.paginator.num_pages,
            "count": page.paginator.count,
            "next": f"?page={page.next_page_number()}{kept}" if page.has_next() else None,
            "previous": f"?page={page.previous_page_number()}{kept}" if page.has_previous() else None,
        }
    )


def _batch_create(request: HttpRequest, user: "User") -> HttpResponseBase:
    idempotency_key = inputs.idempotency_key(request)
    if idempotency_key and (earlier := selectors.batch_created_with(user, idempotency_key)):
        return _created(earlier, *_files_added(request, user, earlier))  # its reply was lost: the same reply
    files = input_images.uploaded_files(request)
    unreadable = input_images.unreadable_files(request)
    params = inputs.request_parameters(request)  # the form's fields over the query string's, as everywhere
    options = inputs.request_options(
        params, user=user, images=len(files), background=input_images.names_a_background(request, params)
    )
    callback_url = inputs.callback_url(params)
    name = inputs.batch_name(params) or ""
    position = inputs.first_position(params)
    limits.check_new_work(user, images=len(files), options=options)
    background = input_images.background_image(request, params)
    try:
        batch, items, rejected = services.batch_submit(
            owner=user,
            files=files,
            options=options,
            callback_url=callback_url,
            background=background,
            first_position=position,
            idempotency_key=idempotency_key,
            name=name,
        )
    except services.NothingAccepted as exc:
        raise services.NothingAccepted(unreadable + exc.rejected) from None
    return _created(batch, items, unreadable + rejected)


def _created(batch: Any, items: list[Any], rejected: list[services.RejectedFile]) -> JsonResponse:
    reply = serializers.serialize_batch(batch, items, selectors.batch_counts(batch))
    reply["rejected"] = services.rejected_json(rejected)
    return JsonResponse(reply, status=201)


@api_endpoint("POST")
def batch_rerun(request: HttpRequest, user: "User", batch_id: uuid.UUID) -> HttpResponseBase:
    """The same uploads again with other options, as a new batch (no upload needed)."""
    batch = selectors.batch_for(user, batch_id)
    params = inputs.request_parameters(request)  # form fields or a JSON body, as /bgremove reads them
    images = selectors.batch_size(batch)
    options = inputs.request_options(
        params, user=user, images=images, background=input_images.names_a_background(request, params)
    )
    callback_url = inputs.callback_url(params)
    limits.check_new_work(user, images=images, options=options)
    background = input_images.background_image(request, params)
    new_batch, items, rejected = services.batch_rerun(
        batch=batch, options=options, callback_url=callback_url, background=background
    )
    return _created(new_batch, items, rejected)


@api_endpoint("POST")
def batch_improve(request: HttpRequest, user: "User", batch_id: uuid.UUID) -> HttpResponseBase:
    """The batch's items that need review made again in place with quality=best (202, the batch)."""
    batch = selectors.batch_for(user, batch_id)
    quality = inputs.improve_quality(request)
    options = dataclasses.replace(Options.from_json(batch.options), quality=quality)
    limits.check_new_work(user, images=selectors.items_to_improve(batch, quality).count(), options=options)
    services.batch_improve(batch=batch, quality=quality)
    batch.refresh_from_db()  # its improvements, counted by the service
    counts = selectors.batch_counts(batch)
    return JsonResponse(serializers.serialize_batch(batch, selectors.batch_items(batch), counts), status=202)


@api_endpoint("GET", "PATCH", "DELETE")
def batch_detail(request: HttpRequest, user: "User", batch_id: uuid.UUID) -> HttpResponseBase:
    batch = selectors.batch_for(user, batch_id)
    if request.method == "DELETE":
        services.batch_delete(batch=batch)
        return HttpResponse(status=204)
    if request.method == "PATCH":  # its name, the one thing of a batch that changes after it is made
        name = inputs.batch_name(inputs.request_parameters(request))
        if name is None:
            raise BadRequest('send the batch\'s new name as name, e.g. {"name": "Shoes, spring catalogue"}')
        batch = services.batch_rename(batch=batch, name=name)
    # Counts first: an item that finishes between the two reads then shows done in `items`
    # while the status may still say processing, never a "done" batch with an unfinished item.
    counts = selectors.batch_counts(batch)
    return JsonResponse(serializers.serialize_batch(batch, selectors.batch_items(batch), counts))


@api_endpoint("POST")
def batch_files(request: HttpRequest, user: "User", batch_id: uuid.UUID) -> HttpResponseBase:
    batch = selectors.batch_for(user, batch_id)
    items, rejected = _files_added(request, user, batch)
    return JsonResponse(
        {
            "id": str(batch.id),
            "items": [serializers.serialize_item(item) for item in items],
            "rejected": services.rejected_json(rejected),
        },
        status=201,
    )


def _files_added(request: HttpRequest, user: "User", batch: Any) -> tuple[list[Any], list[services.RejectedFile]]:
    """The request's files added to `batch`, which keeps its options; NothingAccepted when none could be."""
    options = Options.from_json(batch.options)
    params = inputs.request_parameters(request)
    inputs.check_batch_options_kept(params, options)
    position = inputs.first_position(params)
    files = input_images.uploaded_files(request)
    limits.check_new_work(user, images=len(files), options=options)
    items, rejected = services.batch_add_files(batch=batch, files=files, first_position=position)
    rejected = input_images.unreadable_files(request) + rejected
    if not items:
        raise services.NothingAccepted(rejected)
    return items, rejected


@api_endpoint("GET")
def batch_zip(request: HttpRequest, user: "User", batch_id: uuid.UUID) -> HttpResponseBase:
    batch = selectors.batch_for(user, batch_id)
    if not selectors.items_with_a_cutout(batch).exists():
        raise NotFound("no finished cutouts in this batch yet")
    archive = services.batch_zip(batch=batch)
    reply = streamed(request, iter(archive), size=len(archive), content_type="application/zip")
    reply["Content-Disposition"] = content_disposition_header(True, services.zip_filename(batch))
    return reply


@api_endpoint("GET")
def batch_manifest(request: HttpRequest, user: "User", batch_id: uuid.UUID) -> HttpResponseBase:
    """The zip's manifest.json: every item, with its zip member name and its result's SHA-256."""
    batch = selectors.batch_for(user, batch_id)
    return JsonResponse(services.batch_manifest(batch=batch))


@api_endpoint("GET", "DELETE")
def item_detail(request: HttpRequest, user: "User", item_id: uuid.UUID) -> HttpResponseBase:
    item = selectors.item_for(user, item_id)
    if request.method == "DELETE":
        services.item_delete(item=item)
        return HttpResponse(status=204)
    return JsonResponse(serializers.serialize_item(item))


@api_endpoint("GET", reads_counted=False)
def item_result(request: HttpRequest, user: "User", item_id: uuid.UUID) -> HttpResponseBase:
    item = selectors.item_for(user, item_id)
    if not item.result:
        raise NotFound(f"this item has no result (it is {item.status})")
    return stored_file_response(
        str(item.result.name),
        download_name=services.zip_member_stem(item.filename) + PurePosixPath(str(item.result.name)).suffix,
        request=request,
        digest=item.result_sha256,
    )


@api_endpoint("GET", reads_counted=False)
def item_original(request: HttpRequest, user: "User", item_id: uuid.UUID) -> HttpResponseBase:
    item = selectors.item_for(user, item_id)
    return stored_file_response(
        str(item.source.name), download_name=item.filename, request=request, digest=item.source_sha256
    )


@api_endpoint("GET", reads_counted=False)
def item_thumbnail(
    request: HttpRequest, user: "User", item_id: uuid.UUID, of: str, kind: str = "thumbnail"
) -> HttpResponseBase:
    """A WebP of the item's original or result at most 256 pixels a side, for a card or a list; `display`: of
    the original at most 2048, for a browser that cannot show the upload itself (HEIC, TIFF)."""
    item = selectors.item_for(user, item_id)
    return stored_file_response(
        services.item_thumbnail(item=item, of=of, kind=kind),
        download_name=f"{services.zip_member_stem(item.filename)}-{of}-{kind}.webp",
        request=request,
    )


@api_endpoint("GET", "POST", "DELETE", reads_counted=False)
def item_mask(request: HttpRequest, user: "User", item_id: uuid.UUID) -> HttpResponseBase:
    """The mask a hand edit starts from (GET); a hand-edited mask makes the item's newest result (POST);
    `revert` (or DELETE) goes back to the model's."""
    item = selectors.item_for(user, item_id)
    if request.method in ("GET", "HEAD"):  # HEAD is a GET without its body: it must never change the item
        mask = item.edited_mask or item.mask
        if not mask:
            raise NotFound(
                "no mask is kept for this item (it is not done, is an animation, or was made before masks were kept)"
            )
        return stored_file_response(
            str(mask.name), download_name=services.zip_member_stem(item.filename) + "-mask.png", request=request
        )
    if request.method == "DELETE" or yes_or_no(inputs.request_parameters(request), "revert"):
        item = services.item_mask_revert(item=item)
    else:
        item = services.item_mask_save(item=item, mask_png=input_images.mask_upload(request))
    return JsonResponse(serializers.serialize_item(item))


@api_endpoint("POST")
def item_review(request: HttpRequest, user: "User", item_id: uuid.UUID) -> HttpResponseBase:
    """A person looked at the cutout and it will do: it no longer needs review."""
    item = services.item_review(item=selectors.item_for(user, item_id))
    return JsonResponse(serializers.serialize_item(item))


@public_endpoint("GET", "HEAD")
@never_cache
def models(request: HttpRequest) -> HttpResponseBase:
    """The models a request may name as the `model` option (removal.ops.models_run_on.models_installed; no
    authentication needed), with the quality presets and what the last `make quality` measured of each on real
    photos."""
    installed = models_installed()
    return JsonResponse(
        {
            "models": installed,
            "default": settings.REMBG_MODEL,
            **models_run_on(),
            "qualities": list(QUALITIES),
            "measured": measured_quality(installed),
        }
    )
