"""Django's ASGI handler, with a chunked request body's length made known to Django.

A client that streams its upload sends `Transfer-Encoding: chunked` and no Content-Length
(Node's form-data streams, `curl -H "Transfer-Encoding: chunked"`, a Python generator body).
Django's ASGI handler reads the whole body first either way, but its request takes the
length from the Content-Length header alone, and its multipart parser reads nothing of a
body of length 0: the upload arrived and the view saw no file. Here the request takes
the length of the body it read when the client named none.
"""

import io
from typing import IO, Any

import django
from django.core.handlers.asgi import ASGIHandler, ASGIRequest


class ASGIRequestOfKnownLength(ASGIRequest):
    """Django's ASGI request, with CONTENT_LENGTH from the body read when the client sent none."""

    def __init__(self, scope: dict[str, Any], body_file: IO[bytes]) -> None:
        super().__init__(scope, body_file)
        if "CONTENT_LENGTH" not in self.META:
            position = body_file.tell()
            self.META["CONTENT_LENGTH"] = str(body_file.seek(0, io.SEEK_END))
            body_file.seek(position)


class ChunkedBodyASGIHandler(ASGIHandler):
    request_class = ASGIRequestOfKnownLength


def get_asgi_application() -> ChunkedBodyASGIHandler:
    """django.core.asgi.get_asgi_application, with this module's handler."""
    django.setup(set_prefix=False)
    return ChunkedBodyASGIHandler()
