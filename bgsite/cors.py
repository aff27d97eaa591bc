"""Calls to the APIs from other sites' pages (CORS), through django-cors-headers: which paths and headers.

Off until CORS_ALLOWED_ORIGINS names origins. Only the APIs' paths, which take an API key; never with
cookies (CORS_ALLOW_CREDENTIALS stays False), so another site's page cannot act with a visitor's session.
"""

import re
from collections.abc import Sequence

import corsheaders.defaults

# The APIs' paths: the batch API, PixLab's (removal.web.http_errors.PIXLAB_PREFIXES) and remove.bg's.
API_PATHS = r"^/(api/v1/|api/schema$|bgremove/?$|store(/|$)|v1\.0/)"
REQUEST_HEADERS = (
    *corsheaders.defaults.default_headers,
    *("x-api-key", "www-authenticate", "idempotency-key", "x-request-id"),
    *("range", "if-range"),  # a part of a stored file (removal.web.byte_ranges): a suffix range is not safelisted
)
# What API replies carry beyond what every page may read: a cutout's facts, rate limits, a download's name, the
# request's id (bgsite/log_context.py), which part of a stored file a reply holds and which copy of it.
REPLY_HEADERS = [
    "Content-Disposition",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Width",
    "X-Height",
    "X-Type",
    "X-Credits-Charged",
    "X-Confidence",
    "X-Needs-Review",
    "X-Foreground-Left",
    "X-Foreground-Top",
    "X-Foreground-Width",
    "X-Foreground-Height",
]


def allowed_origin_headers(path: str, request_origin: str, allowed_origins: Sequence[str]) -> dict[str, str]:
    """The CORS headers of a reply made before Django's middleware runs (bgsite's 413 and 400 at the ASGI door),
    so that a page elsewhere reads the error instead of a network failure."""
    if request_origin not in allowed_origins or not re.match(API_PATHS, path):
        return {}
    return {"Access-Control-Allow-Origin": request_origin, "Vary": "Origin"}
