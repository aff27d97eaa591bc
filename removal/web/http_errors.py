"""Errors as HTTP replies, in the shape of the API they belong to: the one place that maps them.

`as_api_error` turns a domain error (an invalid option, an image refused, a fetch that failed or was too large,
storage down, authentication) into the removal.errors class with its status; quota, rate and full-queue refusals are
removal.errors classes already; `item_failure_error`, a failed item; `unavailable`, the 503s among them. `pixlab_error`
gives the {"status", "error"} JSON of the batch API and the PixLab paths, `removebg_error` remove.bg's
{"errors": [...]}; `api_error_reply` the shape of a path's API (removal.web.error_pages: unknown paths, server errors).
The refusals of a request body before Django reads it are removal.web.body_limit's.
"""

import logging
import time

from django.conf import settings
from django.core import exceptions as django_errors
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.urls import reverse

from accounts.auth import CsrfFailed, NotAuthenticated
from removal import events, fetch, services
from removal.cutout import pipeline
from removal.cutout.option_parsing import InvalidOption
from removal.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    NoSubjectFound,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    ServiceUnavailable,
    Unauthorized,
    invalid_option_code,
)
from removal.models import Item
from removal.translated import in_language, refusal_text

logger = logging.getLogger(__name__)

PIXLAB_PREFIXES = ("/api/", "/bgremove", "/store")
REMOVEBG_PREFIX = "/v1.0/"
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")  # read by programs (probes, Prometheus): the API's JSON, not a page
# What a caller is told to wait: the database refused or dropped its connection; storage, or an item, failed.
DATABASE_RETRY_SECONDS, SERVER_FAILURE_RETRY_SECONDS = 5, 30


# Our status -> remove.bg's (status, code).
REMOVEBG_CODES = {
    400: (400, "invalid_parameter"),
    401: (403, "auth_failed"),
    403: (403, "auth_failed"),
    404: (400, "invalid_parameter"),
    405: (405, "method_not_allowed"),
    408: (408, "timeout"),
    409: (409, "conflict"),
    413: (400, "file_too_large"),
    414: (414, "uri_too_long"),
    415: (415, "unsupported_media_type"),
    429: (429, "rate_limit_exceeded"),
    431: (431, "request_header_fields_too_large"),
    500: (500, "server_error"),
    503: (503, "service_unavailable"),
    504: (504, "timeout"),
}

# Errors remove.bg names apart from their status.
REMOVEBG_NAMED_ERRORS = {
    QuotaExceeded: (402, "insufficient_credits"),
    NoSubjectFound: (400, "unknown_foreground"),
}

# remove.bg's code for an input that is no image it can read: refused at the door, or by the worker (input_rejected).
IMAGE_UNREADABLE_CODE = "failed_to_read_image"

# remove.bg's code for a URL that could not be fetched, by the parameter that gave it.
REMOVEBG_FETCH_CODES = {"image_url": "failed_image_download", "bg_image_url": "failed_bg_download"}


def as_api_error(exc: Exception) -> ApiError | None:
    """The API error to reply with for `exc`, or None if it is a bug (then it propagates)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, NotAuthenticated):
        return Unauthorized(str(exc))
    if isinstance(exc, CsrfFailed):
        return Forbidden(str(exc))
    if isinstance(exc, pipeline.ImageRejected):
        # In the page's language; a program's call is English (accounts.auth). An option only this image refuses is
        # a bad value of that option, as an InvalidOption is.
        code = invalid_option_code(exc.option) if exc.option else IMAGE_UNREADABLE_CODE
        return BadRequest(refusal_text(exc), code=code)
    if isinstance(exc, InvalidOption):
        return BadRequest(str(exc), code=invalid_option_code(exc.field))
    if isinstance(exc, services.NothingAccepted):
        return BadRequest(str(exc), details={"rejected": exc.rejected_json()} if exc.rejected else {})
    if isinstance(exc, services.BatchDeleted | services.ItemDeleted):
        return NotFound(str(exc))
    if isinstance(exc, services.ItemNotEditable | services.NothingToImprove):
        return Conflict(str(exc))
    if isinstance(exc, fetch.FetchedTooLarge):
        return PayloadTooLarge(str(exc))
    if isinstance(exc, fetch.FetchError):  # in the page's language, as an image refused
        return BadRequest(in_language(exc.template, exc.values), code=REMOVEBG_FETCH_CODES.get(exc.field, ""))
    if isinstance(exc, events.NotFinishedInTime):  # still being made: say where its result will be
        details = {"id": str(exc.item_id), "result": reverse("api-item-result", args=[exc.item_id])}
        return GatewayTimeout(str(exc), details=details)
    if isinstance(exc, MultiPartParserError):
        return BadRequest(f"the multipart/form-data body could not be read ({exc})")
    if isinstance(exc, TooManyFilesSent):
        return BadRequest(f"too many files in one request; send at most {settings.MAX_FILES_PER_REQUEST} per request")
    if isinstance(exc, TooManyFieldsSent):
        return BadRequest(f"the request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} form fields")
    if isinstance(exc, django_errors.BadRequest):
        return BadRequest(str(exc))  # Django's own reason (a url-encoded body not in UTF-8), not "bad request"
    if (unavailable := services.StorageUnavailable.of(exc)) is not None:  # a temporary folder's disk full too
        return ServiceUnavailable(str(unavailable), headers={"Retry-After": str(SERVER_FAILURE_RETRY_SECONDS)})
    if isinstance(exc, OperationalError | InterfaceError):  # refused (too many connections), gone, or locked
        logger.error("the database refused or dropped a connection: %s", exc)
        message = "the database is busy or unreachable; try again in a few seconds"
        return ServiceUnavailable(message, headers={"Retry-After": str(DATABASE_RETRY_SECONDS)})
    if isinstance(exc, RequestDataTooBig):  # Django's limit on a multipart body's text fields
        return PayloadTooLarge(
            f"the form fields are too large ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1e6:.1f} MB at most in all, "
            "files aside): send images as file parts, or at /v1.0/removebg image_file_b64 in a url-encoded or JSON body"
        )
    return None


def item_failure_error(item: Item) -> ApiError:
    """A failed item: 400 when its input was refused, else 503 (the server's failure, not charged: send it again)."""
    if item.input_rejected:
        return BadRequest(item.error, code=IMAGE_UNREADABLE_CODE)
    return ServiceUnavailable(item.error, headers={"Retry-After": str(SERVER_FAILURE_RETRY_SECONDS)})


def pixlab_error(exc: Exception, headers: dict[str, str] | None = None) -> HttpResponseBase:
    """`exc` as {"status", "error"} JSON (the batch API's and PixLab's shape); a bug is re-raised."""
    if (error := as_api_error(exc)) is None:
        raise exc
    return with_headers(error.response(), {**(headers or {}), **error.headers})


def removebg_error(exc: Exception, headers: dict[str, str] | None = None) -> HttpResponseBase:
    """`exc` in remove.bg's shape, with `headers` (the caller's rate-limit state) beneath its own."""
    if (error := as_api_error(exc)) is None:
        raise exc
    status, code = next(
        (named for kind, named in REMOVEBG_NAMED_ERRORS.items() if isinstance(error, kind)),
        REMOVEBG_CODES.get(error.status, (error.status, "error")),
    )
    if error.status == 400 and error.code:  # remove.bg tells its 400s apart by their code (413s stay file_too_large)
        code = error.code
    reply = JsonResponse(error.removebg_body(code), status=status)
    return with_removebg_rate_headers(with_headers(reply, {**(headers or {}), **error.headers}))


def with_headers(reply: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    for name, value in headers.items():
        reply[name] = value
    return reply


def with_removebg_rate_headers(reply: HttpResponseBase) -> HttpResponseBase:
    """Add remove.bg's X-RateLimit-* names beside the IETF RateLimit-* headers (Reset as a Unix time)."""
    if reply.has_header("RateLimit-Limit"):
        reply["X-RateLimit-Limit"] = reply["RateLimit-Limit"]
        reply["X-RateLimit-Remaining"] = reply["RateLimit-Remaining"]
        reply["X-RateLimit-Reset"] = str(int(time.time()) + int(reply["RateLimit-Reset"]))
    return reply


def api_error_reply(path: str, error: ApiError) -> HttpResponseBase | None:
    """`error` in the shape of the API that `path` belongs to (`/v1.0` and `/api` themselves too, and the probes');
    None at a page's path."""
    if is_removebg_path(path):
        return removebg_error(error)
    return error.response() if f"{path}/".startswith(PIXLAB_PREFIXES) or path in PROBE_PATHS else None


def is_removebg_path(path: str) -> bool:
    """Whether `path` is remove.bg's API: under /v1.0/, or /v1.0 itself."""
    return f"{path}/".startswith(REMOVEBG_PREFIX)


def unavailable(exc: BaseException | None) -> ServiceUnavailable | None:
    """`exc` as the 503 it maps to (the database or storage unreachable for a moment, Retry-After said), or None:
    the one test, from the same mapping, of what a page, a websocket and an API call answer as "try again"."""
    error = as_api_error(exc) if isinstance(exc, Exception) else None
    return error if isinstance(error, ServiceUnavailable) else None
