"""A WARNING when requests come through a reverse proxy that uvicorn does not trust.

uvicorn takes a request's scheme and client address from `X-Forwarded-Proto` and `X-Forwarded-For` only when the
connection comes from an address in FORWARDED_ALLOW_IPS, read from the environment as it starts (127.0.0.1 and ::1 by
default; a value in .env comes too late). From any other proxy, Django sees plain HTTP from the proxy's address, and
nothing says so: the pages' form posts fail their CSRF check, reset links start with http://, HSTS is never sent, and
the log-in throttle counts every visitor as the proxy (docs/deploy.md#behind-a-reverse-proxy). This names the address
and the setting, once for each of the first few addresses (a client that sends such headers itself is logged too, so
they are bounded).
"""

import logging
import threading

from django.http import HttpRequest

from bgsite.request_hooks import before_each_request

logger = logging.getLogger("bgsite.forwarded")

# Addresses warned about, at most this many per process.
MAX_ADDRESSES_WARNED = 8
_warned: set[str] = set()
_warned_lock = threading.Lock()


def forwarding_ignored(request: HttpRequest) -> bool:
    """Whether the request names a scheme or a client that uvicorn did not take from it: its X-Forwarded-Proto is
    not the scheme the request has, or its X-Forwarded-For does not list the address it has."""
    claimed_scheme = request.META.get("HTTP_X_FORWARDED_PROTO", "").strip()  # as uvicorn reads it
    claimed_clients = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    scheme_ignored = claimed_scheme in ("http", "https") and claimed_scheme != request.scheme
    client_ignored = bool(claimed_clients) and request.META.get("REMOTE_ADDR", "") not in claimed_clients
    return scheme_ignored or client_ignored


def _warn_of_an_untrusted_proxy(request: HttpRequest) -> None:
    if not forwarding_ignored(request):
        return
    address = request.META.get("REMOTE_ADDR", "")
    with _warned_lock:
        if address in _warned or len(_warned) >= MAX_ADDRESSES_WARNED:
            return
        _warned.add(address)
    logger.warning(
        "requests from %s carry X-Forwarded-Proto or X-Forwarded-For, which uvicorn ignores: it trusts them only from "
        "FORWARDED_ALLOW_IPS, as set in the environment when it started (default 127.0.0.1,::1; not read from .env). "
        "If %s is your reverse proxy, start uvicorn with FORWARDED_ALLOW_IPS=%s, or the site sees plain HTTP from "
        "the proxy (docs/deploy.md#behind-a-reverse-proxy)",
        address,
        address,
        address,
    )


# First in the stack: every request, whatever answers it.
untrusted_proxy_middleware = before_each_request(_warn_of_an_untrusted_proxy)
