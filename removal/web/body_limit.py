"""How large a request body may be, and the refusals of one before Django reads it.

`BodySizeLimit` (ASGI middleware) refuses a request body that is too large before Django reads it (Django's ASGI
handler spools the whole body first): from Content-Length at once, as soon as a chunked body passes the limit, or as
soon as one part of a multipart body passes the per-file limit (bgsite.multipart_watch, which also notes the file parts
Django would skip without a word, for the views to report); a batch upload past two images' worth whose caller is not
known before its body gets 401 the same way; a body that stops arriving for BODY_IDLE_SECONDS, 408 (as bgsite.server a
head), or that comes slower than BODY_MIN_BYTES_PER_SECOND past its first BODY_RATE_GRACE_SECONDS, 408 too; a body
sent compressed (Content-Encoding), 415; a multipart body with no part of its boundary, 400 (Django read
nothing). Each refusal is answered by removal.web.error_pages.refusal_reply, in the shape of the path's API or as the
site's page. `max_fields_bytes` bounds a JSON or url-encoded body, which removal.web.inputs reads.
"""

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils.http import MAX_HEADER_LENGTH

from accounts.auth import caller_known_before_body
from bgsite.access_log import log_refused_unread
from bgsite.multipart_watch import DROPPED_PARTS_SCOPE_KEY, MultipartWatch, boundary_of
from removal.errors import (
    ApiError,
    BadRequest,
    InternalError,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
)
from removal.ops import connections
from removal.web.error_pages import refusal_reply
from removal.web.http_errors import as_api_error, is_removebg_path

# Batch uploads carry up to MAX_FILES_PER_REQUEST images; any other request at most an
# image and a background. Form fields, JSON and multipart headers fit in the slack.
BATCH_UPLOAD_PATH_PREFIX = "/api/v1/batches"
BODY_SLACK_BYTES = 1_000_000
# How long a request body may go without a byte before it is refused (408): a client that sends a byte now and then
# held its connection, and the buffered part of its body, for as long as it liked.
BODY_IDLE_SECONDS = 30.0


def max_body_bytes(path: str, *, caller_known: bool = True) -> int:
    """The largest request body accepted at `path`: one rule for every endpoint. A batch upload may carry
    MAX_FILES_PER_REQUEST images when its caller is known before its body (accounts.auth.caller_known_before_body);
    any other request, two images' worth (an image and a background)."""
    batch_upload = path.startswith(BATCH_UPLOAD_PATH_PREFIX) and caller_known
    images = settings.MAX_FILES_PER_REQUEST if batch_upload else 2
    return images * settings.MAX_UPLOAD_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + BODY_SLACK_BYTES


def max_fields_bytes(path: str) -> int:
    """The most a JSON or url-encoded body may hold at `path`: Django's DATA_UPLOAD_MAX_MEMORY_SIZE, and at
    remove.bg's path an image of MAX_UPLOAD_BYTES in base64 besides (image_file_b64, which remove.bg's clients
    send in such bodies)."""
    base64_image = 4 * math.ceil(settings.MAX_UPLOAD_BYTES / 3) if is_removebg_path(path) else 0
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE + base64_image


def fields_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is too large (form fields or JSON: {limit / 1e6:.1f} MB at most; send images as files)"
    )


def body_too_large(path: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {max_body_bytes(path) / 1e6:,.0f} MB, the most this endpoint accepts "
        f"(each image at most {settings.MAX_UPLOAD_BYTES / 1e6:g} MB)"
    )


def caller_unknown_for_body(path: str) -> Unauthorized:
    over = max_body_bytes(path, caller_known=False) / 1e6
    return Unauthorized(
        f"a request body over {over:.0f} MB is read only from a known caller: send your API key as 'Authorization: "
        "Bearer <key>', 'X-Api-Key' or ?key= (not as a form field), or sign in"
    )


def body_stalled() -> RequestTimeout:
    return RequestTimeout(f"the request body stopped arriving: no byte of it for {BODY_IDLE_SECONDS:g} s")


def body_deadline(started: float, received: int) -> float:
    """When (on the clock `started` was read from) more of a body that began at `started` and brought `received`
    bytes must have come: past its first BODY_RATE_GRACE_SECONDS, BODY_MIN_BYTES_PER_SECOND for each further second.
    A byte now and then, never idle for BODY_IDLE_SECONDS, held a connection and its request as long as it liked."""
    if not (rate := settings.BODY_MIN_BYTES_PER_SECOND):
        return math.inf
    return started + settings.BODY_RATE_GRACE_SECONDS + received / rate


def body_too_slow(received: int, seconds: float) -> RequestTimeout:
    return RequestTimeout(
        f"the request body came too slowly: {received:,} bytes in {seconds:.0f} s, where past its first "
        f"{settings.BODY_RATE_GRACE_SECONDS:g} s a body must bring {settings.BODY_MIN_BYTES_PER_SECOND:,} bytes for "
        "each second"
    )


def _multipart_watch(content_type: bytes) -> MultipartWatch | None:
    """A watch of a multipart body, None for another; ValueError for a Content-Type Django cannot parse."""
    boundary = boundary_of(content_type.decode("latin-1"))
    return MultipartWatch(boundary, max_part_bytes=settings.MAX_UPLOAD_BYTES) if boundary else None


AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def part_too_large(name: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{name}: the file is larger than {settings.MAX_UPLOAD_BYTES / 1e6:g} MB, the limit per file; "
        "the upload was stopped there"
    )


CONTENT_TYPE_UNREADABLE = BadRequest(
    f"the Content-Type header cannot be read (over {MAX_HEADER_LENGTH:,} characters, or a parameter in an unknown "
    "charset)"
)


def body_encoded(encoding: str) -> UnsupportedMediaType:  # read as it came, it was no form, no JSON, no image
    message = f"the request body is sent with Content-Encoding {encoding[:40]!r}; send it as it is"
    return UnsupportedMediaType(f"{message} (images are compressed already)", headers={"Accept-Encoding": "identity"})


def unreadable_parts(watch: MultipartWatch) -> BadRequest | None:  # else "no files", "missing 'img'", "No image given"
    return BadRequest(reason) if (reason := watch.unreadable()) else None


# Outside Django's request cycle: on a kept connection of the loop's threads, as websockets read (not one per call).
caller_known = connections.kept_connection_read(caller_known_before_body)


def announced_length(scope: dict[str, Any]) -> float:
    """How long the request says its body is: infinite when it does not say (a chunked body, whatever Content-Length
    says beside it, as the server reads the chunks; an HTTP/2 body without Content-Length); 0 for an HTTP/1 request
    with neither header, which has no body."""
    headers = dict(scope.get("headers", []))
    declared = headers.get(b"content-length", b"")
    if b"transfer-encoding" in headers:
        return math.inf
    if declared.isdigit():
        return int(declared)
    return 0 if scope.get("http_version", "1.1") in ("1.0", "1.1") else math.inf


def joined_header(scope: dict[str, Any], name: bytes) -> bytes:
    """Every value the client sent of the header `name`, joined by commas as Django joins them."""
    return b",".join(value for header, value in scope.get("headers", []) if header == name)


def head_refusal(scope: dict[str, Any], *, limit: int, too_large: ApiError) -> ApiError | None:
    """What the request's head alone refuses, before a byte of its body is read: a Content-Length past `limit`
    (`too_large`), a Content-Type Django cannot parse (it would fail the making of its request, a 500), a body sent
    compressed; or None."""
    declared = dict(scope.get("headers", [])).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    try:
        _multipart_watch(joined_header(scope, b"content-type"))
    except ValueError:
        return CONTENT_TYPE_UNREADABLE
    encoding = joined_header(scope, b"content-encoding").strip()
    if encoding.lower() not in (b"", b"identity") and announced_length(scope):
        return body_encoded(encoding.decode("latin-1"))
    return None


def body_refusal(
    watch: MultipartWatch | None, *, received: int, limit: int, too_large: ApiError, whole: bool
) -> ApiError | None:
    """What the body refuses once `received` bytes of it came (`whole`: all of it): more than `limit` (`too_large`),
    a multipart part past the per-file limit, a multipart body with no part of its boundary; or None."""
    if received > limit:
        return too_large
    if watch is not None and watch.oversized is not None:
        return part_too_large(watch.oversized)
    if watch is not None and whole and received:
        return unreadable_parts(watch)
    return None


class BodySizeLimit:
    """ASGI middleware: 413 for a body over max_body_bytes(path), or a multipart part over the per-file
    limit, without reading the rest of it (401 for a batch upload past any request's size whose caller is not known
    before its body; 503 when the database cannot say); 400 for a Content-Type Django cannot read (its request would
    fail to be made, a 500); 415 for a body with a Content-Encoding."""

    def __init__(self, application: AsgiApp) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        try:
            limit, too_large = await self._limit(scope)
        except (OperationalError, InterfaceError) as exc:  # the caller's key could not be looked up: a 503
            return await self._refuse(scope, send, as_api_error(exc) or InternalError(str(exc)))
        if (refusal := head_refusal(scope, limit=limit, too_large=too_large)) is not None:
            return await self._refuse(scope, send, refusal)
        watch = _multipart_watch(joined_header(scope, b"content-type"))  # head_refusal read it
        if watch is not None:
            scope = {**scope, DROPPED_PARTS_SCOPE_KEY: watch.dropped}
        received, refusal = 0, None  # refusal: what counting_receive found wrong with the body as it came
        started, body_done = False, False
        clock = asyncio.get_running_loop().time
        body_started = clock()

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, refusal, body_done
            if body_done:  # Django listens for a disconnect while the view runs: no time limit on that
                return dict(await receive())
            too_slow_in = body_deadline(body_started, received) - clock()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, min(BODY_IDLE_SECONDS, too_slow_in)))
            except TimeoutError:
                too_slow = too_slow_in < BODY_IDLE_SECONDS
                refusal = body_too_slow(received, clock() - body_started) if too_slow else body_stalled()
                return {"type": "http.disconnect"}  # Django stops reading and sends nothing
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if watch is not None:
                    watch.feed(body)
                if found := body_refusal(watch, received=received, limit=limit, too_large=too_large, whole=body_done):
                    refusal = found
                    return {"type": "http.disconnect"}  # Django stops reading and sends nothing
            return dict(message)

        async def watching_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.application(scope, counting_receive, watching_send)
        if refusal is not None and not started:
            await self._refuse(scope, send, refusal)

    @staticmethod
    async def _limit(scope: dict[str, Any]) -> tuple[int, ApiError]:
        """The most of this request's body that is read, and the refusal past it. A body that may be larger than
        any caller's (a batch upload's) is read that far only from a caller known before it: a stranger's is not
        read, nor stored in temporary files, past what any request may carry."""
        path = scope.get("path", "")
        limit, anyones = max_body_bytes(path), max_body_bytes(path, caller_known=False)
        if limit > anyones and announced_length(scope) > anyones and not await caller_known(scope):
            return anyones, caller_unknown_for_body(path)
        return limit, body_too_large(path)

    async def _refuse(self, scope: dict[str, Any], send: Any, error: ApiError) -> None:
        reply = refusal_reply(scope.get("path", ""), error, dict(scope.get("headers", [])))
        reply["Connection"] = "close"  # the rest of the body is not read
        headers = [(name.encode("latin1"), value.encode("latin1")) for name, value in reply.items()]
        log_refused_unread(scope, reply.status_code)
        await send({"type": "http.response.start", "status": reply.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": reply.content})  # type: ignore[attr-defined]
