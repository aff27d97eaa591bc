"""Fetch an image from a URL given by an API caller, without letting them reach our network.

The same method as requests-hardened: resolve the host once, check the address,
and connect to that very address (the name is kept for the Host header, SNI and
certificate checks), so DNS cannot change between the check and the connection.
Every redirect hop goes through the same check. Our address policy is stricter
than requests-hardened's `is_private` test (which misses e.g. 100.64.0.0/10):
only globally routable addresses pass, unless the operator allowed a network
with FETCH_ALLOWED_NETWORKS. Size, time and redirects are capped; the time as a whole, not each read (Watchdog).

The refusals and checks are here; the requests session that fetches is in fetch_session.py, loaded by the first
fetch (requests and urllib3 are half a second of CPU that most processes never need).
"""

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext_noop

from bgsite.networks import IPAddress, IPNetwork, in_networks
from removal.translated import in_english, message

# The schemes an image or callback URL may have, and the port each means when the URL names none.
DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """The URL could not be used; the message says why, for the API caller: `template` % `values`, in English, or in a
    page's language by removal.translated (as ImageRejected)."""

    field = ""  # the request parameter that gave the URL, once the caller that read it says (input_images.fetch_image)

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


def check_url(url: str, what: str = "image URL") -> None:
    """Refuse anything but an http(s) URL with a host name a request can be sent to (the address is checked on
    connecting)."""
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port  # both parse lazily and raise on e.g. "http://[::"
        if port == 0:  # no connection can be made to it: a callback URL with it was taken, then failed each delivery
            raise ValueError(url)
    except ValueError:
        raise FetchError(gettext_noop("the %(what)s is not a valid URL"), what=_named(what)) from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise FetchError(
            gettext_noop("the %(what)s %(url)s has no scheme: give a full URL, e.g. https://example.com/photo.jpg"),
            what=_named(what),
            url=repr(url[:100]),
        )
    if scheme not in DEFAULT_PORTS:
        raise FetchError(
            gettext_noop("only http and https %(whats)s are supported, not %(scheme)s"),
            whats=_named(what, several=True),
            scheme=repr(scheme),
        )
    if not hostname:
        raise FetchError(gettext_noop("the %(what)s has no host name"), what=_named(what))
    import requests  # here: it would load in every process that imports the views

    try:  # as a request for it is prepared: a host name that is not one (a space in it, a label IDNA refuses)
        requests.PreparedRequest().prepare_url(url, None)
    except requests.RequestException:
        raise FetchError(gettext_noop("the %(what)s is not a valid URL"), what=_named(what)) from None


def fetch(url: str, limits: FetchLimits) -> bytes:
    """GET `url` and return the body, or raise FetchError with a reason fit for the caller."""
    from removal import fetch_session  # requests (0.5 s of CPU) loads with the first fetch, not in every process

    return fetch_session.fetch(url, limits)
