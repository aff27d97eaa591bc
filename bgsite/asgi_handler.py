"""Django's ASGI handler, with a chunked request body's length made known to Django.

A client that streams its upload sends `Transfer-Encoding: chunked` and no Content-Length
(Node's form-data streams, `curl -H "Transfer-Encoding: chunked"`, a Python generator body).
Django's ASGI handler reads the whole body first either way, but its request takes the
length from the Content-Length header alone, and its multipart parser reads nothing of a
body of length 0: the upload arrived and the view saw no file. Here the request takes
the length of the body it read when the client named none.

Django spools the body into a temporary file in TMPDIR before any view runs; where that has no room (a small /tmp, a
tmpfs) its OSError left the handler and uvicorn answered a bare 500 "Internal Server Error". It is answered here as
storage's refusal is, 503 in the API's shape (removal.web.http_errors).
"""

import io
from typing import IO, Any

import django
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http.response import HttpResponseBase


class ASGIRequestOfKnownLength(ASGIRequest):
    """Django's ASGI request, with CONTENT_LENGTH from the body read when the client sent none."""

    def __init__(self, scope: dict[str, Any], body_file: IO[bytes]) -> None:
        super().__init__(scope, body_file)
        if "CONTENT_LENGTH" not in self.META:
            position = body_file.tell()
            self.META["CONTENT_LENGTH"] = str(body_file.seek(0, io.SEEK_END))
            body_file.seek(position)


class BodyNotSpooled(Exception):
    """The request's body could not be written to its temporary file (the OSError is its cause)."""


class ChunkedBodyASGIHandler(ASGIHandler):
    request_class = ASGIRequestOfKnownLength

    async def read_body(self, receive: Any) -> IO[bytes]:
        try:
            return await super().read_body(receive)
        except OSError as exc:
            raise BodyNotSpooled from exc

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().handle(scope, receive, send)
        except BodyNotSpooled as exc:
            await self.send_response(body_not_spooled_reply(scope, exc.__cause__), send)


def body_not_spooled_reply(scope: dict[str, Any], exc: BaseException | None) -> HttpResponseBase:
    """503 in the API's shape (the site's page at a page's path), as BodySizeLimit refuses a body, for one with no room
    in TMPDIR; another error raised."""
    from removal.web.error_pages import refusal_reply  # needs Django set up
    from removal.web.http_errors import as_api_error

    if not isinstance(exc, Exception) or (error := as_api_error(exc)) is None:
        raise exc or RuntimeError("a request body could not be read")
    reply = refusal_reply(scope.get("path", ""), error, dict(scope.get("headers", [])))
    reply["Connection"] = "close"  # the rest of the body is not read
    return reply


def get_asgi_application() -> ChunkedBodyASGIHandler:
    """django.core.asgi.get_asgi_application, with this module's handler."""
    django.setup(set_prefix=False)
    return ChunkedBodyASGIHandler()
