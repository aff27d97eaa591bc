"""PixLab-compatible endpoints: /bgremove (image in, cutout out, synchronously) and /store.

Contract: shared/spec/bgremove-api.txt. The image is queued on the same workers
as batches (ahead of them) and the request waits for it; replies are
{"status": 200, "imgData"|"link", "mimeType", "extension"} or the raw PNG
with blob=true; errors are {"status": <code>, "error": <text>}.
"""

import base64
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import user_for_api_request
from removal import events, limits, pipeline, selectors, services
from removal.api import (
    api_endpoint,
    background_image,
    check_method,
    check_upload_size,
    error_response,
    fetch_image,
    request_options,
    stored_file_response,
    uploaded_files,
    with_headers,
)
from removal.errors import ApiError, BadRequest, GatewayTimeout, InternalError
from removal.models import Item
from removal.options import Options

TRUE_WORDS = {"1", "true", "yes", "on"}
# Arrays and objects inside each other in a JSON body. Our bodies are one flat object;
# json.loads on a few thousand levels raises RecursionError (a 500), so deeper ones are
# refused before parsing. The body's size is bounded by DATA_UPLOAD_MAX_MEMORY_SIZE.
JSON_MAX_DEPTH = 32
# A string (to skip, also when unterminated: one pass, never backtracking) or a bracket.
JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)


@csrf_exempt  # session callers are CSRF-checked in user_for_api_request
@never_cache
async def bgremove(request: HttpRequest) -> HttpResponseBase:
    try:
        check_method(request, ("GET", "POST"))
        item_id, batch_id, blob, rate_headers = await sync_to_async(_accept)(request)
        item = await wait_finished(item_id, batch_id)
        return with_headers(await sync_to_async(_reply)(request, item, blob=blob), rate_headers)
    except Exception as exc:
        return error_response(exc)


def _accept(request: HttpRequest) -> tuple[uuid.UUID, uuid.UUID, bool, dict[str, str]]:
    """Authenticate, admit, find the input image, queue it; (item id, blob wanted, rate-limit headers)."""
    params = request_parameters(request)
    user = user_for_api_request(request, key_in_body=str(params.get("key") or ""))
    rate_headers = limits.check_rate(request, user)
    background = background_image(request, params)
    options = request_options(params, background=background)
    limits.check_new_work(user, images=1, options=options)
    upload = _input_image(request, user, params)
    try:
        item = services.bgremove_submit(owner=user, upload=upload, options=options, background=background)
    except pipeline.ImageRejected as exc:
        raise BadRequest(str(exc)) from None
    return item.id, item.batch_id, str(params.get("blob", "")).strip().lower() in TRUE_WORDS, rate_headers


def request_parameters(request: HttpRequest) -> dict[str, Any]:
    """Query string, form fields and a JSON object body, merged (later ones win)."""
    params: dict[str, Any] = request.GET.dict()
    if request.method == "POST":
        if request.content_type == "application/json":
            if json_depth_over(request.body, JSON_MAX_DEPTH):
                raise BadRequest(f"the JSON body nests arrays or objects more than {JSON_MAX_DEPTH} deep")
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise BadRequest("the request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise BadRequest('the JSON body must be an object, e.g. {"img": "https://..."}')
            params.update(body)
        else:
            params.update(request.POST.dict())
    return params


def json_depth_over(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep in `body`, found without parsing it."""
    depth = 0
    for token in JSON_TOKENS.finditer(body):
        bracket = token[0]
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


def _input_image(request: HttpRequest, user: Any, params: dict[str, Any]) -> Any:
    """The image to process: an uploaded file, a stored image, or one fetched from a URL."""
    files = uploaded_files(request) if request.FILES else []
    if files:
        upload = files[0]
    else:
        img = params.get("img")
        if not isinstance(img, str) or not img.strip():
            raise BadRequest(
                "missing 'img': give an image URL, a link or id returned by /store, "
                "or upload the image as multipart/form-data"
            )
        img = img.strip()
        if selectors.is_stored_image_reference(img):
            stored = selectors.stored_image_for(user, img)
            with stored.file.open("rb") as source:
                upload = ContentFile(source.read(), name=stored.filename)
        else:
            upload = ContentFile(fetch_image(img, field="img"), name=url_filename(img))
    check_upload_size(upload)
    return upload


def url_filename(url: str) -> str:
    return services.display_filename(unquote(urlsplit(url).path)) or "image"


async def wait_finished(item_id: uuid.UUID, batch_id: uuid.UUID) -> Item:
    """Wait for the workers to finish the item.

    Woken by the item's own progress events (through the channel layer, from
    embedded or separate workers alike); the database is read again on each
    wake-up and at least every quarter second, so a lost event costs little.
    """
    deadline = time.monotonic() + settings.BGREMOVE_TIMEOUT_SECONDS
    read = sync_to_async(selectors.item_finished, thread_sensitive=False)
    async with events.BatchListener(batch_id) as listener:
        while (item := await read(item_id)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # The image is still processed: say where its result will be.
                raise GatewayTimeout(
                    f"the cutout was not ready within {settings.BGREMOVE_TIMEOUT_SECONDS:g} s; the service is busy. "
                    "It is still being made: fetch it later from 'result'",
                    details={"id": str(item_id), "result": reverse("api-item-result", args=[item_id])},
                )
            await listener.next(timeout=min(0.25, remaining))
    return item


def failure_error(item: Item) -> ApiError:
    """A failed item as an API error: 400 when its input was refused, 500 when processing failed."""
    return BadRequest(item.error) if item.input_rejected else InternalError(item.error)


def _reply(request: HttpRequest, item: Item, *, blob: bool) -> HttpResponseBase:
    if item.status == Item.Status.FAILED:
        raise failure_error(item)
    options = Options.from_json(item.batch.options)
    kind = {"mimeType": options.mime_type, "extension": options.extension}
    if blob:
        with item.result.open("rb") as result:
            return HttpResponse(result.read(), content_type=options.mime_type)
    if not isinstance(default_storage, FileSystemStorage):
        return JsonResponse({"status": 200, "link": default_storage.url(str(item.result.name)), **kind})
    with item.result.open("rb") as result:
        encoded = base64.b64encode(result.read()).decode("ascii")
    return JsonResponse({"status": 200, "imgData": encoded, **kind})


@api_endpoint("POST")
def store(request: HttpRequest, user: Any) -> HttpResponseBase:
    """Keep an uploaded image; /bgremove can then name it by the returned link or id."""
    if not request.FILES:
        raise BadRequest("no file: upload the image as multipart/form-data (any field name)")
    upload = uploaded_files(request)[0]
    check_upload_size(upload)
    try:
        image = services.stored_image_create(owner=user, upload=upload)
    except pipeline.ImageRejected as exc:
        raise BadRequest(f"{upload.name}: {exc}") from None
    link = request.build_absolute_uri(reverse("api-stored-image", args=[image.id]))
    return JsonResponse({"status": 200, "link": link, "id": str(image.id)})


@api_endpoint("GET")
def stored_image(request: HttpRequest, user: Any, image_id: uuid.UUID) -> HttpResponseBase:
    image = selectors.stored_image_for(user, str(image_id))
    return stored_file_response(str(image.file.name), download_name=image.filename, request=request)
