"""Fetch an image from a URL given by an API caller, without letting them reach our network.

The same method as requests-hardened: resolve the host once, check the address,
and connect to that very address (the name is kept for the Host header, SNI and
certificate checks), so DNS cannot change between the check and the connection.
Every redirect hop goes through the same check. Our address policy is stricter
than requests-hardened's `is_private` test (which misses e.g. 100.64.0.0/10):
only globally routable addresses pass, unless the operator allowed a network
with FETCH_ALLOWED_NETWORKS. Size, time and redirects are capped; the time as a whole, not each read (Watchdog).
"""

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.utils.translation import gettext_noop
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from bgsite.networks import IPAddress, IPNetwork, in_networks
from removal.translated import in_english, message


class FetchError(Exception):
    """The URL could not be used; the message says why, for the API caller: `template` % `values`, in English, or in a
    page's language by removal.translated (as ImageRejected)."""

    field = ""  # the request parameter that gave the URL, once the caller that read it says (inputs.fetch_image)

    def __init__(self, template: str, /, **values: Any) -> None:
        self.template, self.values = template, values
        super().__init__(in_english(template, values))


class FetchedTooLarge(FetchError):
    """The body passed FetchLimits.max_bytes (HTTP 413, not 400)."""


class HostNotFound(FetchError):
    """The URL's host name does not resolve (now)."""


class AddressRefused(FetchError):
    """The URL points at an address we do not fetch from."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_seconds: float
    max_redirects: int
    allowed_networks: Sequence[IPNetwork] = ()


# Special-purpose ranges that some Python versions still call global
# (cpython#113171), and relay/translation ranges that can lead inside.
NOT_GLOBAL_EITHER = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "192.0.0.0/24",
        "192.88.99.0/24",
        "100.64.0.0/10",
        "64:ff9b:1::/48",
        "::/96",  # IPv4-compatible (deprecated): ::7f00:1 is ::127.0.0.1
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "2001::/32",  # Teredo: the client address inside is obfuscated, so none is trusted
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "2001:20::/28",
    )
)


def address_allowed(address: IPAddress, allowed_networks: Sequence[IPNetwork] = ()) -> bool:
    """Public addresses only, unless in an operator-allowed network.

    IPv4-mapped and NAT64/6to4-embedded forms are judged by the IPv4 address
    they carry; anything not globally routable (private, loopback, link-local,
    unique-local, CG-NAT, reserved, multicast, unspecified) is refused.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            address = embedded
        elif address in ipaddress.ip_network("64:ff9b::/96"):
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if in_networks(address, allowed_networks):
        return True
    if in_networks(address, NOT_GLOBAL_EITHER):
        return False
    return address.is_global and not address.is_multicast


# What a refusal calls each kind of URL, one and several, in the reader's language (removal.translated).
URL_NAMES = {
    "image URL": (gettext_noop("image URL"), gettext_noop("image URLs")),
    "callback URL": (gettext_noop("callback URL"), gettext_noop("callback URLs")),
}


def _named(what: str, *, several: bool = False) -> dict[str, Any]:
    return message(URL_NAMES[what][several], {})


def resolve_checked(host: str, port: int, allowed_networks: Sequence[IPNetwork], what: str = "image URL") -> IPAddress:
    """The address to connect to for `host` (named in errors as the host of the `what`), or AddressRefused.

    All of the host's addresses must pass: a name that resolves to one public
    and one private address is refused rather than gambled on.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(f"could not resolve the host name {host!r}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address_allowed(address, allowed_networks):
            raise AddressRefused(
                gettext_noop("the %(what)s points at a non-public address (%(address)s); refused"),
                what=_named(what),
                address=str(address),
            )
    return addresses[0]


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
        port = host_params["port"] or (443 if host_params["scheme"] == "https" else 80)
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


def check_url(url: str, what: str = "image URL") -> None:
    """Refuse anything but an http(s) URL with a host name a request can be sent to (the address is checked on
    connecting)."""
    try:
        parts = urlsplit(url)
        hostname, _ = parts.hostname, parts.port  # both parse lazily and raise on e.g. "http://[::"
    except ValueError:
        raise FetchError(gettext_noop("the %(what)s is not a valid URL"), what=_named(what)) from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise FetchError(
            gettext_noop("the %(what)s %(url)s has no scheme: give a full URL, e.g. https://example.com/photo.jpg"),
            what=_named(what),
            url=repr(url[:100]),
        )
    if scheme not in ("http", "https"):
        raise FetchError(
            gettext_noop("only http and https %(whats)s are supported, not %(scheme)s"),
            whats=_named(what, several=True),
            scheme=repr(scheme),
        )
    if not hostname:
        raise FetchError(gettext_noop("the %(what)s has no host name"), what=_named(what))
    try:  # as a request for it is prepared: a host name that is not one (a space in it, a label IDNA refuses)
        requests.PreparedRequest().prepare_url(url, None)
    except requests.RequestException:
        raise FetchError(gettext_noop("the %(what)s is not a valid URL"), what=_named(what)) from None


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
