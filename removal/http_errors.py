"""Errors met outside an API view, answered in the shape of the API the path belongs to.

An unknown path or a server error under /api/ or the PixLab paths gets the
{"status", "error"} JSON of removal.errors, under /v1.0/ remove.bg's
{"errors": [...]}; other paths keep Django's pages. `BodySizeLimit` refuses a
request body that is too large before Django reads it (Django's ASGI handler
spools the whole body first): from Content-Length at once, or as soon as a
chunked body passes the limit.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views import defaults

from removal.errors import ApiError, BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge

PIXLAB_PREFIXES = ("/api/", "/bgremove", "/store")
REMOVEBG_PREFIX = "/v1.0/"
# Batch uploads carry up to MAX_FILES_PER_REQUEST images; any other request at most an
# image and a background. Form fields, JSON and multipart headers fit in the slack.
BATCH_UPLOAD_PATH_PREFIX = "/api/v1/batches"
BODY_SLACK_BYTES = 1_000_000


def api_error_reply(path: str, error: ApiError) -> HttpResponseBase | None:
    """`error` in the shape of the API that `path` belongs to; None outside the APIs."""
    if path.startswith(REMOVEBG_PREFIX):
        from removal.removebg import removebg_error  # imports the views, which need this module's callers set up

        return removebg_error(error)
    if path.startswith(PIXLAB_PREFIXES):
        return error.response()
    return None


def max_body_bytes(path: str) -> int:
    """The largest request body accepted at `path`: one rule for every endpoint."""
    images = settings.MAX_FILES_PER_REQUEST if path.startswith(BATCH_UPLOAD_PATH_PREFIX) else 2
    return images * settings.MAX_UPLOAD_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + BODY_SLACK_BYTES


def body_too_large(path: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {max_body_bytes(path) / 1e6:g} MB, the most this endpoint accepts "
        f"(each image at most {settings.MAX_UPLOAD_BYTES / 1e6:g} MB)"
    )


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponseBase:
    reply = api_error_reply(request.path, BadRequest("bad request"))
    return reply or defaults.bad_request(request, exception, **kwargs)


def permission_denied(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponseBase:
    reply = api_error_reply(request.path, Forbidden(str(exception) or "forbidden"))
    return reply or defaults.permission_denied(request, exception, **kwargs)


def page_not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponseBase:
    reply = api_error_reply(request.path, NotFound(f"no such endpoint: {request.path}; see /api/docs"))
    return reply or defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
    reply = api_error_reply(request.path, InternalError("internal error; it has been logged"))
    return reply or defaults.server_error(request, **kwargs)


AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class BodySizeLimit:
    """ASGI middleware: 413 for a body over max_body_bytes(path), without reading the rest of it."""

    def __init__(self, application: AsgiApp) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        path = scope.get("path", "")
        limit = max_body_bytes(path)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await self._refuse(path, send)
        received = 0
        over = False
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}  # Django stops reading and sends nothing
            return dict(message)

        async def watching_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.application(scope, counting_receive, watching_send)
        if over and not started:
            await self._refuse(path, send)

    async def _refuse(self, path: str, send: Any) -> None:
        error = body_too_large(path)
        reply = api_error_reply(path, error) or error.response()
        reply["Connection"] = "close"  # the rest of the body is not read
        headers = [(name.encode("latin1"), value.encode("latin1")) for name, value in reply.items()]
        await send({"type": "http.response.start", "status": reply.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": reply.content})  # type: ignore[attr-defined]
