"""removal.web.links: which URLs a caller sends are links to this server."""

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import RequestFactory

from removal.web.links import on_this_server

STORE = "/api/v1/store/0d6f3c5e-8a0b-4c1e-9a51-3f0e7f6b2d14"


@pytest.mark.parametrize(
    ("link", "ours"),
    [
        (f"http://bgsite.example:8000{STORE}", True),  # the host the call came to
        (f"HTTP://BGSITE.EXAMPLE.:8000{STORE}", True),
        (f"http://localhost:8000{STORE}", True),  # another name the server answers to (ALLOWED_HOSTS)
        (f"http://img.cdn.example:8000{STORE}", True),  # ".cdn.example" lets its subdomains in
        (STORE, True),  # a bare path: here
        (f"http://other-host{STORE}", False),  # the 7th probe's: read as the caller's own stored image
        (f"http://other-host:8000{STORE}", False),
        (f"http://bgsite.example{STORE}", False),  # port 80: another server on this host
        (f"http://bgsite.example:9000{STORE}", False),
        (f"https://bgsite.example:8000{STORE}", True),  # the scheme as a proxy may see it, the same port
        (f"http://bgsite.example:8000@other-host{STORE}", False),  # user info: the host is other-host
        (f"//other-host{STORE}", False),
        (f"other-host{STORE}", False),
        (f"ftp://bgsite.example:8000{STORE}", False),
    ],
)
def test_a_link_is_this_servers_at_a_name_it_answers_to_and_the_port_the_call_came_to(
    settings: Any, link: str, ours: bool
) -> None:
    settings.ALLOWED_HOSTS = ["bgsite.example", "localhost", ".cdn.example", "*"]  # '*' names no host of ours
    request = RequestFactory().get("/bgremove", HTTP_HOST="bgsite.example:8000")
    assert on_this_server(request, urlsplit(link)) is ours


def test_the_default_port_is_the_requests_schemes(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["bgsite.example"]
    request = RequestFactory().get("/bgremove", HTTP_HOST="bgsite.example", secure=True)
    assert on_this_server(request, urlsplit(f"https://bgsite.example{STORE}"))
    assert on_this_server(request, urlsplit(f"https://bgsite.example:443{STORE}"))
    assert not on_this_server(request, urlsplit(f"http://bgsite.example{STORE}"))
