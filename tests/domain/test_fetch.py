"""removal.fetch: the address policy (below the network) and fetching on loopback only.

No test here sends traffic outside 127.0.0.0/8: non-loopback ranges are checked
at the address check; loopback cases run end to end against a local server.
"""

import ipaddress
import threading
import time
from typing import Any

import pytest

from bgsite.networks import parse_networks
from removal import fetch

REFUSED = [
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CG-NAT: is_private misses it
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "192.0.0.8",
    "198.18.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    # IPv4 embedded in other IPv6 forms (issue 14): all of them 127.0.0.1 or 10.0.0.1.
    "::7f00:1",  # IPv4-compatible
    "::127.0.0.1",
    "0:0:0:0:0:0:7f00:1",
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1 (obfuscated)
    "64:ff9b::a00:1",  # NAT64 (well-known prefix)
    "64:ff9b:1::a00:1",  # NAT64 (local-use prefix)
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not fetch.address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert fetch.address_allowed(ipaddress.ip_address(address))


def test_operators_can_allow_internal_networks() -> None:
    allowed = parse_networks(["10.1.2.0/24", " fd00:1::/64 ", ""])
    assert fetch.address_allowed(ipaddress.ip_address("10.1.2.3"), allowed)
    assert fetch.address_allowed(ipaddress.ip_address("fd00:1::5"), allowed)
    assert not fetch.address_allowed(ipaddress.ip_address("10.1.3.3"), allowed)
    assert not fetch.address_allowed(ipaddress.ip_address("169.254.169.254"), allowed)


LIMITS = fetch.FetchLimits(max_bytes=1_000_000, timeout_seconds=5, max_redirects=3)
LOOPBACK_ALLOWED = fetch.FetchLimits(
    max_bytes=1_000_000, timeout_seconds=5, max_redirects=3, allowed_networks=parse_networks(["127.0.0.1/32"])
)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f000001", "017700000001"])
def test_loopback_in_any_spelling_is_refused_before_any_request(host: str, image_host: Any) -> None:
    address, seen = image_host
    port = address.rsplit(":", 1)[1]
    with pytest.raises(fetch.AddressRefused, match="non-public address"):
        fetch.fetch(f"http://{host}:{port}/image.jpg", LIMITS)
    assert seen == []


def test_allowed_network_is_served(image_host: Any) -> None:
    address, seen = image_host
    assert fetch.fetch(f"http://{address}/image.jpg", LOOPBACK_ALLOWED).startswith(b"\xff\xd8")
    assert seen == ["/image.jpg"]


def test_every_redirect_hop_is_checked(image_host: Any) -> None:
    address, seen = image_host
    port = address.rsplit(":", 1)[1]
    # 127.0.0.1 is allowed here; the redirect targets are not.
    with pytest.raises(fetch.AddressRefused, match=r"\(::1\)"):
        fetch.fetch(f"http://{address}/redirect?to=http://[::1]:{port}/image.jpg", LOOPBACK_ALLOWED)
    with pytest.raises(fetch.AddressRefused):
        fetch.fetch(f"http://{address}/redirect?to=http://127.0.0.2:{port}/image.jpg", LOOPBACK_ALLOWED)
    assert len(seen) == 2 and all(path.startswith("/redirect") for path in seen)


@pytest.mark.parametrize(
    "target, message",
    [
        ("file:///etc/passwd", "redirected to a URL that is not http or https; refused"),
        ("ftp://127.0.0.1/a.jpg", "redirected to a URL that is not http or https; refused"),
        ("http://[::", "redirected to an invalid URL"),
    ],
)
def test_a_redirect_out_of_http_says_so(image_host: Any, target: str, message: str) -> None:
    address, _ = image_host
    with pytest.raises(fetch.FetchError) as refused:
        fetch.fetch(f"http://{address}/redirect?to={target}", LOOPBACK_ALLOWED)
    assert str(refused.value) == f"the image URL {message}"


def test_redirects_are_capped(image_host: Any) -> None:
    address, _ = image_host
    with pytest.raises(fetch.FetchError, match="redirected more than 3 times"):
        fetch.fetch(f"http://{address}/loop", LOOPBACK_ALLOWED)


def test_size_is_capped_while_streaming(image_host: Any) -> None:
    address, _ = image_host
    small = fetch.FetchLimits(**{**LOOPBACK_ALLOWED.__dict__, "max_bytes": 100_000})
    with pytest.raises(fetch.FetchError, match=r"larger than 0\.1 MB"):
        fetch.fetch(f"http://{address}/big", small)


def test_a_content_length_no_parser_reads_is_ignored_and_the_cap_still_applies(image_host: Any) -> None:
    address, _ = image_host
    assert fetch.fetch(f"http://{address}/odd-length.jpg", LOOPBACK_ALLOWED)[:2] == b"\xff\xd8"
    small = fetch.FetchLimits(**{**LOOPBACK_ALLOWED.__dict__, "max_bytes": 1000})
    with pytest.raises(fetch.FetchError, match=r"larger than 0\.001 MB"):
        fetch.fetch(f"http://{address}/odd-length.jpg", small)


def test_http_errors_are_reported(image_host: Any) -> None:
    address, _ = image_host
    with pytest.raises(fetch.FetchError, match="answered HTTP 404"):
        fetch.fetch(f"http://{address}/missing", LOOPBACK_ALLOWED)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "not 'file'"),
        ("gopher://127.0.0.1/", "not 'gopher'"),
        ("ftp://example.com/a.jpg", "not 'ftp'"),
        ("javascript:alert(1)", "not 'javascript'"),
        ("http:///nohost", "no host name"),
        ("not a url", "has no scheme: give a full URL"),
        ("example.com/a.jpg", "has no scheme: give a full URL"),
    ],
)
def test_other_schemes_are_refused(url: str, message: str) -> None:
    with pytest.raises(fetch.FetchError, match=message):
        fetch.fetch(url, LIMITS)


# Host names no request can be sent to: requests refuses them when it prepares the request (InvalidURL), after
# check_url let them through. A callback URL was taken with its batch, then each delivery failed and was tried again.
UNSENDABLE_HOSTS = ["ex ample.com", ".com", "a\u3002b.com", "\u2603.com", "exa\u00admple.com", "\u00e4" * 64 + ".com"]


@pytest.mark.parametrize("host", UNSENDABLE_HOSTS)
@pytest.mark.parametrize("what", ["image URL", "callback URL"])
def test_a_host_name_no_request_can_be_sent_to_is_refused_as_not_a_valid_url(host: str, what: str) -> None:
    with pytest.raises(fetch.FetchError, match=f"^the {what} is not a valid URL$"):
        fetch.check_url(f"http://{host}/a.jpg", what)


@pytest.mark.parametrize("what", ["image URL", "callback URL"])
def test_port_0_is_refused_as_not_a_valid_url(what: str) -> None:
    # No connection can be made to it: a callback URL with it was taken with its batch, then every delivery failed.
    with pytest.raises(fetch.FetchError, match=f"^the {what} is not a valid URL$"):
        fetch.check_url("https://example.com:0/hook", what)
    fetch.check_url("https://example.com:1/hook", what)


def test_an_international_host_name_is_a_valid_url() -> None:
    fetch.check_url("https://\u00df.de/a b.jpg", "callback URL")  # requests sends it as xn--zca.de


def test_unresolvable_names_are_reported() -> None:
    with pytest.raises(fetch.FetchError, match="could not resolve"):
        fetch.fetch("http://no-such-host.invalid/a.jpg", LIMITS)


@pytest.mark.parametrize("path", ["/head", "/body", "/endless"])
def test_a_host_that_never_finishes_its_reply_is_cut_off_at_the_time_limit(stalling_host: str, path: str) -> None:
    """requests' timeout bounds each read: a byte every 0.1 s of headers or body held the caller for hours (a
    /bgremove img held its web thread and database connection): the whole exchange is bounded (fifth probe)."""
    quick = fetch.FetchLimits(**{**LOOPBACK_ALLOWED.__dict__, "timeout_seconds": 1, "max_bytes": 10**12})
    outcome: list[BaseException] = []

    def fetch_it() -> None:
        try:
            fetch.fetch(f"http://{stalling_host}{path}", quick)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=fetch_it, daemon=True)
    thread.start()
    thread.join(timeout=15)
    assert not thread.is_alive(), f"{path}: still fetching after 15 s"
    assert time.monotonic() - started < 5
    assert isinstance(outcome[0], fetch.FetchError)
    assert "took longer than 1 s" in str(outcome[0])


def test_a_redirect_whose_body_never_ends_is_followed_without_reading_it(stalling_host: str) -> None:
    """requests reads a redirect's whole body before following it: a 302 with a body that never ended filled memory
    at the network's speed (past 3 GB in under 3 s here) until the time limit. It is not read at all (fifth probe)."""
    started = time.monotonic()
    assert fetch.fetch(f"http://{stalling_host}/redirect", LOOPBACK_ALLOWED) == b"ok"
    assert time.monotonic() - started < 2
