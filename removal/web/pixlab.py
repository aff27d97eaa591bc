"""PixLab-compatible endpoints: /bgremove (image in, cutout out, synchronously) and /store.

Contract: shared/spec/bgremove-api.txt. An adapter over services.image_submit: the
request becomes (input image, Options, owner); the image is queued on the same
workers as batches (ahead of them) and the request waits for it. Replies are
{"status": 200, "imgData"|"link", "mimeType", "extension", "confidence", "needs_review"} (the last
two ours) or the raw image (with X-Confidence and X-Needs-Review headers) with
blob=true; errors are {"status": <code>, "error": <text>} (http_errors.pixlab_error).
"""

import base64
import uuid
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import user_for_api_request
from removal import events, selectors, serializers, services
from removal.cutout import pipeline
from removal.cutout.option_parsing import is_blank, yes_or_no
from removal.cutout.options import FORMATS, Options
from removal.errors import BadRequest
from removal.models import Item
from removal.ops import limits
from removal.ops.connections import kept_connection_read
from removal.web import input_images, inputs
from removal.web.endpoints import api_endpoint, stored_file_response
from removal.web.http_errors import item_failure_error, pixlab_error, with_headers

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@csrf_exempt  # session callers are CSRF-checked in user_for_api_request
@never_cache
async def bgremove(request: HttpRequest) -> HttpResponseBase:
    rate_headers: dict[str, str] = {}
    try:
        inputs.check_method(request, ("GET", "POST"))
        params, user, rate_headers = await sync_to_async(_admit)(request)
        with limits.waiting_room(request.path):
            item_id, batch_id, blob = await sync_to_async(_accept)(request, params, user)
            item = await events.wait_finished(item_id, batch_id, timeout_seconds=settings.BGREMOVE_TIMEOUT_SECONDS)
            # Read on a kept connection, once more on a new one: the request's own may have died during the wait, and
            # its error (503, try again) had a caller send again an image that was accepted, made and counted.
            return with_headers(await kept_connection_read(_reply)(item, blob=blob), rate_headers)
    except Exception as exc:
        return pixlab_error(exc, rate_headers)


def _admit(request: HttpRequest) -> tuple[dict[str, Any], "User", dict[str, str]]:
    """The request's parameters, its user, and the rate-limit headers every later reply carries."""
    params = inputs.request_parameters(request)
    user = user_for_api_request(request, key_in_body=str(params.get("key") or ""), spends_credits=True)
    return params, user, limits.check_rate(request, user)


def _accept(request: HttpRequest, params: dict[str, Any], user: "User") -> tuple[uuid.UUID, uuid.UUID, bool]:
    """Admit the work, find the input image, queue it; (item id, batch id, blob wanted)."""
    options = inputs.request_options(
        params, user=user, images=1, background=input_images.names_a_background(request, params)
    )
    blob = yes_or_no(params, "blob")  # before the image is queued: a word it does not know is a 400, not a JSON reply
    limits.check_new_work(user, images=1, options=options)
    background = input_images.background_image(request, params)
    upload = _input_image(request, user, params)
    item = services.image_submit(owner=user, upload=upload, options=options, background=background)
    return item.id, item.batch_id, blob


def _input_image(request: HttpRequest, user: "User", params: dict[str, Any]) -> File:
    """The image to process: an uploaded file, a stored image, or one fetched from a URL."""
    img = params.get("img")
    if input_images.images_sent(request):  # one_image says why none is usable
        if not is_blank(img):
            raise BadRequest("send the image one way only: an uploaded file or img, not both")
        upload = input_images.one_image(request)
    else:
        if not isinstance(img, str) or not img.strip():
            raise BadRequest(
                "missing 'img': give an image URL, a link or id returned by /store, "
                "or upload the image as multipart/form-data"
            )
        upload = input_images.stored_or_fetched(request, user, img.strip(), field="img")
    input_images.check_upload_size(upload)
    return upload


def _reply(item: Item, *, blob: bool) -> HttpResponseBase:
    if item.status == Item.Status.FAILED:
        raise item_failure_error(item)
    mime_type, extension = _result_kind(item)
    # Added to PixLab's reply: how sure the cutout is, and whether it may need a look.
    kind = {"mimeType": mime_type, "extension": extension, **serializers.review_fields(item)}
    if blob:
        with item.result.open("rb") as result:
            reply = HttpResponse(result.read(), content_type=mime_type)
        return with_headers(reply, serializers.review_headers(item))
    if not isinstance(default_storage, FileSystemStorage):
        return JsonResponse({"status": 200, "link": default_storage.url(str(item.result.name)), **kind})
    with item.result.open("rb") as result:
        encoded = base64.b64encode(result.read()).decode("ascii")
    return JsonResponse({"status": 200, "imgData": encoded, **kind})


def _result_kind(item: Item) -> tuple[str, str]:
    """The result's MIME type and extension: the format asked for, unless the result is of another kind than the
    options say (a video's is a zip of frames and a WebM, whatever `format` was), which its stored name tells."""
    options = Options.from_json(item.batch.options)
    extension = PurePosixPath(str(item.result.name)).suffix.removeprefix(".")
    if extension != options.extension:
        for mime_type, known in FORMATS.values():
            if known == extension:
                return mime_type, extension
    return options.mime_type, options.extension


@api_endpoint("POST")
def store(request: HttpRequest, user: "User") -> HttpResponseBase:
    """Keep an uploaded image; /bgremove can then name it by the returned link or id."""
    if not input_images.images_sent(request):  # a bg_image alone was answered with the batch API's "files" fields
        backgrounds = " or ".join(input_images.BACKGROUND_FIELDS)
        raise BadRequest(f"no file: upload the image as multipart/form-data (any field name but {backgrounds})")
    upload = input_images.one_image(request)
    input_images.check_upload_size(upload)
    limits.check_store_room(user, size_bytes=upload.size)
    try:
        image = services.stored_image_create(owner=user, upload=upload)
    except pipeline.ImageRejected as exc:
        raise BadRequest(f"{upload.name}: {exc}") from None
    link = request.build_absolute_uri(reverse("api-stored-image", args=[image.id]))
    return JsonResponse({"status": 200, "link": link, "id": str(image.id)})


@api_endpoint("GET", reads_counted=False)
def stored_image(request: HttpRequest, user: "User", image_id: uuid.UUID) -> HttpResponseBase:
    image = selectors.stored_image_for(user, str(image_id))
    return stored_file_response(str(image.file.name), download_name=image.filename, request=request)
