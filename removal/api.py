"""The batch API (JSON over HTTP), used by the web page and by programs.

Each endpoint parses the request, calls a selector or service, and serializes.
Errors are raised as removal.errors exceptions and turned into
{"status": <code>, "error": <text>} replies by `api_endpoint`.
"""

import functools
import mimetypes
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import CsrfFailed, NotAuthenticated, user_for_api_request
from removal import fetch, limits, pipeline, selectors, serializers, services
from removal.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from removal.options import QUALITIES, InvalidOption, Options, installed_models, measured_quality, parse_options

ApiView = Callable[..., HttpResponseBase]


def api_endpoint(*methods: str) -> Callable[[ApiView], ApiView]:
    """Allow `methods`, authenticate the caller, and turn errors into JSON replies.

    The view receives the authenticated user after the request. CSRF is checked
    by user_for_api_request for session callers only (API keys need none).
    """

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt
        @never_cache
        @functools.wraps(view)
        def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                check_method(request, methods)
                user = user_for_api_request(request)
                rate_headers = limits.check_rate(request, user)
                return with_headers(view(request, user, *args, **kwargs), rate_headers)
            except Exception as exc:
                return error_response(exc)

        return endpoint

    return decorate


def check_method(request: HttpRequest, methods: tuple[str, ...]) -> None:
    if request.method not in methods:
        raise MethodNotAllowed(
            f"{request.method} is not allowed here; use {' or '.join(methods)}",
            headers={"Allow": ", ".join(methods)},
        )


def with_headers(reply: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    for name, value in headers.items():
        reply[name] = value
    return reply


def error_response(exc: Exception) -> HttpResponseBase:
    """The JSON error reply for `exc`; anything that is not an API error is re-raised (a bug)."""
    if (error := as_api_error(exc)) is None:
        raise exc
    return error.response()


def as_api_error(exc: Exception) -> ApiError | None:
    """The API error to reply with for `exc`, or None if it is a bug (then it propagates)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, NotAuthenticated):
        return Unauthorized(str(exc))
    if isinstance(exc, CsrfFailed):
        return Forbidden(str(exc))
    if isinstance(exc, TooManyFilesSent):
        return BadRequest(f"too many files in one request; send at most {settings.MAX_FILES_PER_REQUEST} per request")
    if isinstance(exc, InvalidOption):
        return BadRequest(str(exc))
    if isinstance(exc, services.StorageUnavailable):
        return ServiceUnavailable(str(exc), headers={"Retry-After": "30"})
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(
            f"the request body is too large (form fields and JSON: {settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1e6:g} MB "
            "at most; send images as files)"
        )
    return None


BACKGROUND_FIELDS = ("bg_image", "bg_image_file")  # a background to composite onto, not an image to process


def uploaded_files(request: HttpRequest) -> list[Any]:
    """Every uploaded image to process, from `files` fields first, then any other file field."""
    files = request.FILES.getlist("files")
    for field in request.FILES:
        if field != "files" and field not in BACKGROUND_FIELDS:
            files.extend(request.FILES.getlist(field))
    if not files:
        raise BadRequest("no files: send one or more images as multipart/form-data 'files' fields")
    return files


def _rejected(rejected: list[services.RejectedFile]) -> list[dict[str, str]]:
    return [{"filename": refusal.filename, "error": refusal.error} for refusal in rejected]


def _refuse_all(rejected: list[services.RejectedFile]) -> BadRequest:
    if len(rejected) == 1:
        message = f"{rejected[0].filename}: {rejected[0].error}"
    else:
        message = f"none of the {len(rejected)} files could be accepted; see 'rejected'"
    return BadRequest(message, details={"rejected": _rejected(rejected)})


@api_endpoint("GET", "POST")
def batches(request: HttpRequest, user: Any) -> HttpResponseBase:
    if request.method == "POST":
        return _batch_create(request, user)
    page = Paginator(selectors.batches_for(user), settings.BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    return JsonResponse(
        {
            "batches": [
                serializers.serialize_batch_summary(batch, counts)
                for batch, counts in selectors.batches_with_counts(list(page))
            ],
            "page": page.number,
            "pages": page.paginator.num_pages,
            "count": page.paginator.count,
            "next": f"?page={page.next_page_number()}" if page.has_next() else None,
            "previous": f"?page={page.previous_page_number()}" if page.has_previous() else None,
        }
    )


def fetch_image(url: str, *, field: str) -> bytes:
    """An image from the URL in a caller's `field`, fetched safely (removal.fetch); errors as API errors naming it."""
    limits = fetch.FetchLimits(
        max_bytes=settings.MAX_UPLOAD_BYTES,
        timeout_seconds=settings.FETCH_TIMEOUT_SECONDS,
        max_redirects=settings.FETCH_MAX_REDIRECTS,
        allowed_networks=fetch.parse_networks(settings.FETCH_ALLOWED_NETWORKS),
    )
    try:
        return fetch.fetch(url, limits)
    except fetch.FetchedTooLarge as exc:
        raise PayloadTooLarge(f"{field}: {exc}") from None
    except fetch.FetchError as exc:
        raise BadRequest(f"{field}: {exc}") from None


def check_upload_size(upload: Any, *, subject: str = "the image is") -> None:
    """PayloadTooLarge when an upload (or a fetched image) is over MAX_UPLOAD_BYTES."""
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"{subject} larger than {settings.MAX_UPLOAD_BYTES / 1e6:g} MB")


def background_image(request: HttpRequest, params: Any) -> Any:
    """The `bg_image` to composite onto: an uploaded file, or a URL (also remove.bg's names); None if absent."""
    upload: Any = next((request.FILES[field] for field in BACKGROUND_FIELDS if field in request.FILES), None)
    if upload is None:
        field = next((name for name in ("bg_image", "bg_image_url") if params.get(name)), "")
        if not field:
            return None
        url = str(params[field])
        upload = ContentFile(fetch_image(url, field=field), name=PurePosixPath(urlsplit(url).path).name or "background")
    check_upload_size(upload, subject="bg_image:")
    try:
        pipeline.inspect_image(upload, max_pixels=settings.MAX_IMAGE_PIXELS)
    except pipeline.ImageRejected as exc:
        raise BadRequest(f"bg_image: {exc}") from None
    return upload


def request_options(params: Any, *, background: Any = None) -> Any:
    """The output options named in a request (removal.options), with this site's default model and format."""
    return parse_options(
        params,
        default_model=settings.REMBG_MODEL,
        model_dir=settings.U2NET_HOME,
        default_format=settings.DEFAULT_FORMAT,
        background=background is not None,
    )


def _batch_create(request: HttpRequest, user: Any) -> HttpResponseBase:
    files = uploaded_files(request)
    background = background_image(request, request.POST)
    options = request_options(request.POST, background=background)
    callback_url = _callback_url(request)
    limits.check_new_work(user, images=len(files), options=options)
    with transaction.atomic():
        batch = services.batch_create(owner=user, options=options, callback_url=callback_url, background=background)
        items, rejected = services.batch_add_files(batch=batch, files=files)
        if not items:
            raise _refuse_all(rejected)  # rolls the empty batch back
    reply = serializers.serialize_batch(batch, items, selectors.batch_counts(batch))
    reply["rejected"] = _rejected(rejected)
    return JsonResponse(reply, status=201)


def _callback_url(request: HttpRequest) -> str:
    callback_url = request.POST.get("callback_url", "").strip()
    if callback_url:
        try:
            fetch.check_url(callback_url, "callback URL")
        except fetch.FetchError as exc:
            raise BadRequest(f"callback_url: {exc}") from None
        if len(callback_url) > 2000:
            raise BadRequest("callback_url: 2000 characters at most")
    return callback_url


@api_endpoint("POST")
def batch_rerun(request: HttpRequest, user: Any, batch_id: uuid.UUID) -> HttpResponseBase:
    """The same uploads again with other options, as a new batch (no upload needed)."""
    batch = selectors.batch_for(user, batch_id)
    background = background_image(request, request.POST)
    options = request_options(request.POST, background=background)
    callback_url = _callback_url(request)
    limits.check_new_work(user, images=batch.items.count(), options=options)
    with transaction.atomic():
        new_batch, items, rejected = services.batch_rerun(
            batch=batch, options=options, callback_url=callback_url, background=background
        )
        if not items:
            raise _refuse_all(rejected) if rejected else BadRequest("this batch has no images to run again")
    reply = serializers.serialize_batch(new_batch, items, selectors.batch_counts(new_batch))
    reply["rejected"] = _rejected(rejected)
    return JsonResponse(reply, status=201)


NOUNS = {"batches": "batch", "items": "item", "store": "stored image with that id or link"}


@api_endpoint("GET", "POST")
def malformed_id(request: HttpRequest, user: Any, collection: str) -> HttpResponseBase:
    """A path whose id is not a UUID: the same 404 as an id that does not exist."""
    raise NotFound(f"no such {NOUNS[collection]}")


@api_endpoint("GET")
def batch_detail(request: HttpRequest, user: Any, batch_id: uuid.UUID) -> HttpResponseBase:
    batch = selectors.batch_for(user, batch_id)
    return JsonResponse(serializers.serialize_batch(batch, selectors.batch_items(batch), selectors.batch_counts(batch)))


@api_endpoint("POST")
def batch_files(request: HttpRequest, user: Any, batch_id: uuid.UUID) -> HttpResponseBase:
    batch = selectors.batch_for(user, batch_id)
    files = uploaded_files(request)
    limits.check_new_work(user, images=len(files), options=Options.from_json(batch.options))
    items, rejected = services.batch_add_files(batch=batch, files=files)
    if not items:
        raise _refuse_all(rejected)
    return JsonResponse(
        {
            "id": str(batch.id),
            "items": [serializers.serialize_item(item) for item in items],
            "rejected": _rejected(rejected),
        },
        status=201,
    )


@api_endpoint("GET")
def batch_zip(request: HttpRequest, user: Any, batch_id: uuid.UUID) -> HttpResponseBase:
    batch = selectors.batch_for(user, batch_id)
    if not selectors.done_items(batch).exists():
        raise NotFound("no finished cutouts in this batch yet")
    archive = services.batch_zip(batch=batch)
    reply = StreamingHttpResponse(_chunks_off_the_event_loop(iter(archive)), content_type="application/zip")
    reply["Content-Length"] = str(len(archive))
    reply["Content-Disposition"] = 'attachment; filename="cutouts.zip"'
    return reply


async def _chunks_off_the_event_loop(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Yield a body chunk by chunk, each read in a worker thread.

    Under ASGI, Django reads a plain iterator (and so a FileResponse) to its end
    before sending anything; an async iterator is sent as it is produced, so
    memory stays flat however large the file or zip.
    """
    read_next = sync_to_async(_next_or_none, thread_sensitive=True)
    while (chunk := await read_next(chunks)) is not None:
        yield chunk


def _next_or_none(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


@api_endpoint("GET")
def item_result(request: HttpRequest, user: Any, item_id: uuid.UUID) -> HttpResponseBase:
    item = selectors.item_for(user, item_id)
    if not item.result:
        raise NotFound(f"this item has no result (it is {item.status})")
    return stored_file_response(
        str(item.result.name),
        download_name=services.zip_member_stem(item.filename) + PurePosixPath(str(item.result.name)).suffix,
        request=request,
    )


@api_endpoint("GET")
def item_original(request: HttpRequest, user: Any, item_id: uuid.UUID) -> HttpResponseBase:
    item = selectors.item_for(user, item_id)
    return stored_file_response(str(item.source.name), download_name=item.filename, request=request)


def stored_file_response(name: str, *, download_name: str, request: HttpRequest) -> HttpResponseBase:
    """Send a stored file: straight from local storage, or by a time-limited link to S3."""
    as_attachment = request.GET.get("download") in ("1", "true", "yes")
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(name))
    if not default_storage.exists(name):
        raise NotFound("the stored file is missing")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    reply = StreamingHttpResponse(_chunks_off_the_event_loop(services.storage_chunks(name)), content_type=content_type)
    reply["Content-Length"] = str(default_storage.size(name))
    if disposition := content_disposition_header(as_attachment, download_name):
        reply["Content-Disposition"] = disposition
    return reply


@never_cache
def models(request: HttpRequest) -> HttpResponseBase:
    """The models installed here, usable as the `model` option (no authentication needed), with the
    quality presets and what the last `make quality` measured of each on real photos."""
    installed = installed_models(settings.U2NET_HOME)
    return JsonResponse(
        {
            "models": installed,
            "default": settings.REMBG_MODEL,
            "qualities": list(QUALITIES),
            "measured": measured_quality(installed),
        }
    )
