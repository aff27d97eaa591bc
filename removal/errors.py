"""The errors the HTTP API returns, as exceptions mapped to status codes in one place.

Every error reply has the PixLab shape: {"status": <code>, "error": "<text>"},
with the same HTTP status, and the request's id (bgsite.log_context) as "request_id".
"""

from collections.abc import Sequence
from typing import Any

from django.http import JsonResponse

from bgsite.log_context import request_id_field


class ApiError(Exception):
    status = 400

    def __init__(
        self,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        # Extra keys for the reply body, e.g. which files were refused and why.
        self.details = details or {}
        # What went wrong, for a program to tell apart: remove.bg's error code where it names one ("missing_source",
        # "invalid_size"); replies in the {"status", "error"} shape do not carry it.
        self.code = code

    def response(self) -> JsonResponse:
        body = {"status": self.status, "error": self.message, **self.details, **request_id_field()}
        reply = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            reply[name] = value
        return reply

    def removebg_body(self, code: str) -> dict[str, Any]:
        """remove.bg's {"errors": [{"title", "code"}]} (removal.web.http_errors.removebg_error names the code), and
        the request's id beside them: its clients read the title."""
        return {"errors": [{"title": self.message, "code": code, **request_id_field()}]}


class BadRequest(ApiError):
    status = 400


def invalid_option_code(field: str) -> str:
    """remove.bg's code for a value of the parameter `field` that is not taken (`invalid_size`, `invalid_roi`)."""
    return f"invalid_{field}"


class NoSubjectFound(BadRequest):
    """The cutout shows no subject (removal.cutout.confidence.shows_a_subject): remove.bg's unknown_foreground."""


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405

    @classmethod
    def naming(cls, method: str | None, allowed: Sequence[str]) -> "MethodNotAllowed":
        """The 405 for `method` where only `allowed` are taken: named in its text and its Allow header."""
        return cls(f"{method} is not allowed here; use {' or '.join(allowed)}", headers={"Allow": ", ".join(allowed)})


class Conflict(ApiError):
    status = 409


class RequestTimeout(ApiError):
    status = 408


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class UriTooLong(ApiError):
    status = 414


class RangeNotSatisfiable(ApiError):
    status = 416


class TooManyRequests(ApiError):
    status = 429


class QuotaExceeded(TooManyRequests):
    """The daily quota is used up (remove.bg's clients read it as 402 insufficient_credits)."""


class RequestHeaderFieldsTooLarge(ApiError):
    status = 431


class InternalError(ApiError):
    status = 500


class ServiceUnavailable(ApiError):
    status = 503


class GatewayTimeout(ApiError):
    status = 504
