"""The error handlers bgsite.urls names (400, 403, 404, 500): under an API's prefix its JSON shape
(removal.web.http_errors.api_error_reply), elsewhere the site's pages; and so for the refusals made before Django
sees a request (refusal_reply) and for Django's own 405s (method_not_allowed_middleware).

An error that reaches Django's 500 handler but maps to a 503 (http_errors.unavailable: the database refused or
dropped a connection, SQLite could not write, storage failed) is answered as one, with Retry-After, in the API's shape
or as the site's "try again" page: a session the database could not read or save (a log-in, any signed-in page) was
a bare 500 "Something went wrong" where every API call said 503 and when to retry.
"""

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.cookie import parse_cookie
from django.http.response import HttpResponseBase
from django.template import TemplateDoesNotExist, loader
from django.utils import translation
from django.utils.decorators import sync_and_async_middleware
from django.views import defaults

from bgsite.cors import allowed_origin_headers
from removal.errors import ApiError, BadRequest, Forbidden, InternalError, MethodNotAllowed, NotFound
from removal.web.http_errors import api_error_reply, is_removebg_path, unavailable, with_headers

# An id that is not a UUID matches no <uuid:> route; it names nothing, as an unknown id.
MALFORMED_ID = re.compile(r"^/api/v1/(batches|items)/[^/]+(/(files|zip|rerun|result|original))?$")
NOUNS = {"batches": "batch", "items": "item"}


def status_page(status: int) -> HttpResponse:
    """The site's page for `status` (templates/<status>.html, in the active language), answered with it."""
    return HttpResponse(loader.get_template(f"{status}.html").render(), status=status)


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponseBase:
    reply = api_error_reply(request.path, BadRequest(_bad_request_reason(request, exception)))
    if reply is None and isinstance(exception, RequestDataTooBig):  # a form past DATA_UPLOAD_MAX_MEMORY_SIZE
        return status_page(413)  # not "could not understand"
    return reply or defaults.bad_request(request, exception, **kwargs)


def _bad_request_reason(request: HttpRequest, exception: Exception) -> str:
    if isinstance(exception, DisallowedHost):  # a client calling by an address, or by a name the operator did not list
        host = request.META.get("HTTP_HOST", "")[:100]
        served = "is not a name this server answers to (its ALLOWED_HOSTS); call it by one of its names"
        return f"the Host header {host!r} {served}"
    return "bad request"


def permission_denied(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponseBase:
    reply = api_error_reply(request.path, Forbidden(str(exception) or "forbidden"))
    return reply or defaults.permission_denied(request, exception, **kwargs)


def page_not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponseBase:
    if found := MALFORMED_ID.match(request.path):
        error = NotFound(f"no such {NOUNS[found.group(1)]}")
    elif is_removebg_path(request.path):  # remove.bg's calls are not in /api/docs
        error = NotFound(f"no such endpoint: {request.path}; remove.bg's are POST /v1.0/removebg and GET /v1.0/account")
    else:
        error = NotFound(f"no such endpoint: {request.path}; see /api/docs")
    reply = api_error_reply(request.path, error)
    return reply or defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
    """500, or the 503 the error being handled maps to. Django calls this inside its `except` (asgiref's threads
    raise it again there), so the error is sys.exception()."""
    if (error := unavailable(sys.exception())) is None:
        reply = api_error_reply(request.path, InternalError("internal error; it has been logged"))
        return reply or defaults.server_error(request, **kwargs)
    # Rendered without the request, as Django's 500 page is: what failed may be what the request's context reads.
    page = status_page(error.status)
    return api_error_reply(request.path, error) or with_headers(page, error.headers)


@sync_and_async_middleware
def method_not_allowed_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Django's own 405 (require_http_methods, a class-based view's) has no body: a browser showed a blank page. It
    gets the shape of the API its path belongs to, elsewhere the site's page, in the page's language."""
    if iscoroutinefunction(get_response):

        async def answered_async(request: HttpRequest) -> HttpResponseBase:
            return method_not_allowed_reply(request, await get_response(request))

        return answered_async

    def answered(request: HttpRequest) -> HttpResponseBase:
        return method_not_allowed_reply(request, get_response(request))

    return answered


def method_not_allowed_reply(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """`response` as it is, unless it is Django's bare 405: then the 405 in the shape of its API, or the page."""
    if not isinstance(response, HttpResponseNotAllowed):
        return response
    error = MethodNotAllowed.naming(request.method, response["Allow"].split(", "))
    page = status_page(405)
    return api_error_reply(request.path, error) or with_headers(page, error.headers)


def refusal_reply(path: str, error: ApiError, headers: Mapping[bytes, bytes]) -> HttpResponseBase:
    """A refusal made before Django saw the request (bgsite.server, BodySizeLimit, the ASGI handler): in the shape of
    the API `path` belongs to, readable by a page of an allowed Origin (CORS, as django-cors-headers would make it);
    at any other path the site's page for its status, in the language the page would speak (the `headers`' cookie,
    else their Accept-Language), rendered without a request as the 400 and 500 are."""
    origin = headers.get(b"origin", b"").decode("latin-1")
    reply = api_error_reply(path, error) or _refusal_page(error, headers)
    return with_headers(reply, allowed_origin_headers(path, origin, settings.CORS_ALLOWED_ORIGINS))


def _refusal_page(error: ApiError, headers: Mapping[bytes, bytes]) -> HttpResponseBase:
    chooser = HttpRequest()
    chooser.COOKIES = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
    chooser.META["HTTP_ACCEPT_LANGUAGE"] = headers.get(b"accept-language", b"").decode("latin-1")
    with translation.override(translation.get_language_from_request(chooser)):
        try:
            page = status_page(error.status)
        except TemplateDoesNotExist:  # a status no page speaks of (a 401 is an API's)
            return error.response()
    return with_headers(page, error.headers)
