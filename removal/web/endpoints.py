"""What the JSON front doors share around a view: the api_endpoint and public_endpoint wrappers, and stored files
sent back.

Not a view module: the front doors (api.py, pixlab.py, removebg.py, openapi_views.py) import it, never each other.
"""

import functools
import mimetypes
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import content_disposition_header, http_date, quote_etag
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.auth import SAFE_METHODS, user_for_api_request
from removal import services
from removal.cutout.option_parsing import yes_or_no
from removal.errors import NotFound, RangeNotSatisfiable
from removal.ops import limits
from removal.web.byte_ranges import requested_range
from removal.web.http_errors import pixlab_error, with_headers
from removal.web.inputs import check_method, request_parameters

ApiView = Callable[..., HttpResponseBase]


def api_endpoint(*methods: str, reads_counted: bool = True) -> Callable[[ApiView], ApiView]:
    """Allow `methods` (and HEAD with GET), authenticate the caller, count the call, and turn errors into JSON replies.

    The view receives the authenticated user after the request. CSRF is checked
    by user_for_api_request for session callers only (API keys need none).
    `reads_counted=False`: GETs of a stored file (a result, an original) are not
    counted against the rate limits, whoever asks: they make nothing, and the page
    shows two per photo.
    """

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt
        @never_cache
        @functools.wraps(view)
        def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                check_method(request, with_head(methods))
                user = user_for_api_request(request)
                counted = reads_counted or request.method not in SAFE_METHODS
                rate_headers = limits.check_rate(request, user) if counted else {}
                return with_headers(view(request, user, *args, **kwargs), rate_headers)
            except Exception as exc:
                return pixlab_error(exc)

        endpoint.rate_limited_reads = reads_counted  # type: ignore[attr-defined]  # what the OpenAPI document says
        return endpoint

    return decorate


def public_endpoint(*methods: str) -> Callable[[ApiView], ApiView]:
    """Allow `methods` (and HEAD with GET) on a view that anyone may call (the models, the schema), with errors as
    JSON replies: another method is the API's 405, not the CSRF check's HTML page."""

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt
        @functools.wraps(view)
        def endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                check_method(request, with_head(methods))
                return view(request, *args, **kwargs)
            except Exception as exc:
                return pixlab_error(exc)

        endpoint.rate_limited_reads = False  # type: ignore[attr-defined]
        return endpoint

    return decorate


def with_head(methods: tuple[str, ...]) -> tuple[str, ...]:
    """HEAD wherever GET is (RFC 9110, 9.3.2): what download managers and `curl -I` ask before a download. Once: a view
    that names HEAD itself would otherwise list it twice in its 405's Allow header and text."""
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods


def streamed(request: HttpRequest, chunks: Iterator[bytes], *, size: int, content_type: str) -> HttpResponseBase:
    """A body of `size` bytes sent chunk by chunk off the event loop; for HEAD the headers alone, nothing read."""
    if request.method == "HEAD":
        reply: HttpResponseBase = HttpResponse(content_type=content_type)
    else:
        reply = StreamingHttpResponse(chunks_off_the_event_loop(chunks), content_type=content_type)
    reply["Content-Length"] = str(size)
    return reply


def stored_file_response(name: str, *, download_name: str, request: HttpRequest, digest: str = "") -> HttpResponseBase:
    """Send a stored file: straight from local storage, or by a time-limited link to S3 (which answers conditional
    and range requests itself). The caller has checked that it is the asker's to read.

    From local storage with an ETag (`digest`, the SHA-256 kept of the file, else its size and time) and its
    Last-Modified: a request naming the copy it holds (If-None-Match, If-Modified-Since) is a 304 without the file
    read, by Django's get_conditional_response, as the condition decorator answers; then a request for a part of
    it (Range, removal.web.byte_ranges) is a 206 with that part alone read."""
    as_attachment = yes_or_no(request_parameters(request), "download")  # a word it does not know is a 400, not "no"
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(name))
    try:
        etag, modified = _validators(name, digest)
        validators = {"ETag": etag, "Last-Modified": http_date(modified), "Accept-Ranges": "bytes"}
        if (held := get_conditional_response(request, etag=etag, last_modified=modified)) is not None:
            return with_headers(held, validators)
        source = services.opened_storage_file(name)
    except FileNotFoundError:
        raise NotFound("the stored file is missing") from None
    try:
        part = requested_range(request, size=source.size, etag=etag, last_modified=modified)
    except RangeNotSatisfiable:
        source.close()
        raise
    first_byte, byte_count = (0, source.size) if part is None else (part.first, part.length)
    chunks = services.stored_file_chunks(source, first_byte=first_byte, byte_count=byte_count)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    reply = streamed(request, chunks, size=byte_count, content_type=content_type)
    if request.method == "HEAD":
        source.close()  # opened for its size alone: no body is sent, so nothing reads it to its end and closes it
    if part is not None:
        reply.status_code = 206
        reply["Content-Range"] = part.content_range
    reply = with_headers(reply, validators)
    if disposition := content_disposition_header(as_attachment, download_name):
        reply["Content-Disposition"] = disposition
    return reply


def _validators(name: str, digest: str) -> tuple[str, int]:
    """A locally stored file's ETag (`digest`, else its size and time to the nanosecond) and the second it was
    last written."""
    stat = os.stat(default_storage.path(name))
    return quote_etag(digest or f"{stat.st_size:x}-{stat.st_mtime_ns:x}"), int(stat.st_mtime)


async def chunks_off_the_event_loop(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
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
