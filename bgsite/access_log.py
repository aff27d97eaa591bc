"""One log line per request, with API keys taken out of the query string.

Uvicorn's own access log prints query strings as they came, which would write
`?key=<API key>` into the logs; it is turned off (--no-access-log, and bgsite/logging_config.py)
and this middleware logs instead. A parameter that is a URL (/bgremove's `img`) is written
without its query string and user name: a presigned link's signature is a key to the user's file.
A refusal the server words itself (429, 503, 504: which limit, what is busy or down) ends its line
with that reason, for an operator asked about one; a 4xx's reason may quote what was sent (a
file's name) and stays in the reply. A probe's success (/healthz, /readyz, /metrics) is logged at DEBUG.
"""

import json
import logging
import time
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.http import HttpRequest
from django.utils.decorators import sync_and_async_middleware

from bgsite.networks import origin

logger = logging.getLogger("bgsite.access")
SECRET_PARAMETERS = {"key", "api_key", "apikey", "token", "invitation"}
EXPLAINED_STATUSES = (429, 503, 504)
# Polled every few seconds by the container's health check, a load balancer, Prometheus: a success is a DEBUG line.
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")


def loggable_path(request: HttpRequest) -> str:
    """The request's path and query as a log line may hold them: a link's token in the path (a password reset's, an
    e-mail change's: whoever has it may use it) is [redacted], as a key or an invitation in the query is."""
    path = request.path
    if (match := getattr(request, "resolver_match", None)) and (token := match.kwargs.get("token")):
        path = path.replace(f"/{token}/", "/[redacted]/")
    return _loggable(path, request.META.get("QUERY_STRING", ""))


def log_refused_unread(scope: dict[str, Any], status: int) -> None:
    """The access line of a request the ASGI door answered before Django made one of it (an upload over the
    limits: removal.web.body_limit.BodySizeLimit), which this middleware never sees."""
    query = scope.get("query_string", b"").decode("latin1")
    logger.info(
        '%s "%s %s" %s refused unread',
        (scope.get("client") or ("-",))[0],
        scope.get("method", "-"),
        _loggable(scope.get("path", ""), query),
        status,
    )


def _loggable(path: str, query: str) -> str:
    if not query:
        return path
    pairs = [
        (name, "[redacted]" if name.lower() in SECRET_PARAMETERS else _without_secrets(value))
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    shown = urlencode(pairs, safe="[]/:")
    return f"{path}?{shown[:500]}"


def _without_secrets(value: str) -> str:
    """A URL without its user name, password, query string and fragment; any other value as it is."""
    if not value.lower().startswith(("http://", "https://")):
        return value
    try:
        url = urlsplit(value)
        shown = f"{origin(value)}{url.path}"
    except ValueError:  # a port that is not a number
        return "[unreadable URL]"
    return f"{shown}?[redacted]" if url.query or url.fragment else shown


def _reason(response: Any) -> str:
    """ ": <why>" of a refusal in EXPLAINED_STATUSES, from its JSON body in either API's shape; "" for another."""
    if response.status_code not in EXPLAINED_STATUSES or response.get("Content-Type") != "application/json":
        return ""
    try:
        body = json.loads(response.content)
        reason = body.get("error") or body["errors"][0]["title"]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    return f": {str(reason)[:300]}"


def _log(request: HttpRequest, response: Any, started: float) -> None:
    probed = request.path in PROBE_PATHS and response.status_code < 400
    logger.log(
        logging.DEBUG if probed else logging.INFO,
        '%s "%s %s" %s %.0fms%s',
        request.META.get("REMOTE_ADDR", "-"),
        request.method,
        loggable_path(request),
        response.status_code,
        (time.monotonic() - started) * 1000,
        _reason(response),
    )


@sync_and_async_middleware
def access_log_middleware(get_response: Callable[..., Any]) -> Callable[..., Any]:
    if iscoroutinefunction(get_response):

        async def log_async(request: HttpRequest) -> Any:
            started = time.monotonic()
            response = await get_response(request)
            _log(request, response, started)
            return response

        return log_async

    def log_sync(request: HttpRequest) -> Any:
        started = time.monotonic()
        response = get_response(request)
        _log(request, response, started)
        return response

    return log_sync
