"""The requests session behind removal.fetch: it connects only to the address fetch.resolve_checked allowed, on every
hop, and is cut off once the fetch's time is up (Watchdog)."""

import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from bgsite.networks import IPNetwork
from removal.fetch import DEFAULT_PORTS, FetchedTooLarge, FetchError, FetchLimits, check_url, resolve_checked


class Watchdog:
    """Shuts down the sockets of one session's requests once `seconds` have passed since it was made.

    requests' timeout bounds each read, not the whole: a host that sent a byte of its
    headers or body every few seconds held the caller's thread for hours (a callback
    URL, a worker; each /bgremove img, a web thread and its database connection).
    """

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock.dup())  # a duplicate: wrapping it in TLS detaches the socket object
            if self._timer is None:
                self._timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._expire)
                self._timer.daemon = True
                self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # a blocked read returns at once

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


_sending = threading.local()  # the watchdog of the request this thread is sending, for the connections it opens


class _WatchedConnectionMixin:
    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        if (watchdog := getattr(_sending, "watchdog", None)) is not None:
            watchdog.watch(sock)
        return sock


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the checked address of the URL's host (see module docstring), within the watchdog's time."""

    def __init__(self, allowed_networks: Sequence[IPNetwork], watchdog: Watchdog) -> None:
        self.allowed_networks, self.watchdog = allowed_networks, watchdog
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        _sending.watchdog = self.watchdog
        try:
            return super().send(request, *args, **kwargs)
        finally:
            _sending.watchdog = None

    def close(self) -> None:
        self.watchdog.close()
        super().close()

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"]
        port = host_params["port"] or DEFAULT_PORTS[host_params["scheme"]]
        request.headers = CaseInsensitiveDict(request.headers or {})
        host_header = f"[{hostname}]" if ":" in hostname else hostname
        if host_params["port"] is not None:
            host_header += f":{host_params['port']}"
        request.headers["Host"] = host_header
        if host_params["scheme"] == "https":
            pool_kwargs["assert_hostname"] = hostname
            pool_kwargs["server_hostname"] = hostname
        address = resolve_checked(hostname, port, self.allowed_networks)
        host_params["host"] = str(address)
        return host_params, pool_kwargs


class SafeSession(requests.Session):
    """A requests session that only connects to allowed addresses, on every hop, and is cut off once
    `limits.timeout_seconds` have passed since it was made (`watchdog.expired` then says so).

    It takes no reply for a redirect: requests reads a redirect's whole body before it follows it (or refuses to,
    as with allow_redirects=False), so a 302 whose body never ended filled memory at the network's speed (past 3 GB
    in under 3 s on loopback). fetch() follows redirects itself, leaving their bodies unread.
    """

    def __init__(self, limits: FetchLimits) -> None:
        super().__init__()
        self.trust_env = False  # never through a proxy from the environment
        self.watchdog = Watchdog(limits.timeout_seconds)
        adapter = PinnedAddressAdapter(limits.allowed_networks, self.watchdog)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def fetch(url: str, limits: FetchLimits) -> bytes:
    """GET `url` and return the body, or raise FetchError with a reason fit for the caller."""
    check_url(url)
    session = SafeSession(limits)
    try:
        for _ in range(limits.max_redirects + 1):
            with session.get(
                url, stream=True, timeout=limits.timeout_seconds, headers={"User-Agent": "bgsite-fetch/1"}
            ) as reply:
                if not reply.is_redirect:
                    return _image_body(reply, session, limits)
                url = _redirect_target(reply)  # its body left unread
        raise FetchError(f"the image URL redirected more than {limits.max_redirects} times")
    except requests.Timeout:
        raise FetchError(f"the image URL did not answer within {limits.timeout_seconds:g} s") from None
    except requests.RequestException as exc:
        if session.watchdog.expired:  # its sockets were shut down: whatever failed then says nothing more
            raise FetchError(_too_slow(limits)) from None
        if not isinstance(exc, requests.ConnectionError):
            raise FetchError(f"could not fetch the image URL ({exc.__class__.__name__})") from None
        if isinstance(exc.__context__, FetchError):
            raise exc.__context__ from None
        raise FetchError("could not connect to the image URL's host") from None
    finally:
        session.close()


def _image_body(reply: requests.Response, session: SafeSession, limits: FetchLimits) -> bytes:
    if reply.status_code != 200:
        raise FetchError(f"the image URL answered HTTP {reply.status_code}")
    declared = reply.headers.get("Content-Length", "")
    if declared.isdecimal() and int(declared) > limits.max_bytes:  # not isdigit(): "²" is a digit
        raise FetchedTooLarge(_too_large(limits.max_bytes))
    body = bytearray()
    for chunk in reply.iter_content(64 * 1024):
        body += chunk
        if len(body) > limits.max_bytes:
            raise FetchedTooLarge(_too_large(limits.max_bytes))
    if session.watchdog.expired:  # cut off: what came is not the whole image
        raise FetchError(_too_slow(limits))
    return bytes(body)


def _redirect_target(reply: requests.Response) -> str:
    """The URL a redirect leads to, as requests would follow it; FetchError unless it is an http(s) URL."""
    location = reply.headers["location"].encode("latin1").decode("utf8", "replace")
    try:
        target = requote_uri(urljoin(reply.url, location))
        parts = urlsplit(target)
        hostname, _ = parts.hostname, parts.port  # both parse lazily and raise on e.g. "http://[::"
    except ValueError:
        raise FetchError("the image URL redirected to an invalid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("the image URL redirected to a URL that is not http or https; refused")
    if not hostname:
        raise FetchError("the image URL redirected to an invalid URL")
    return target


def _too_slow(limits: FetchLimits) -> str:
    return f"the image URL took longer than {limits.timeout_seconds:g} s to download"


def _too_large(max_bytes: int) -> str:
    return f"the image at that URL is larger than {max_bytes / 1e6:g} MB"
