"""bgsite/forwarded.py: the WARNING that names a reverse proxy whose X-Forwarded-* headers uvicorn ignores."""

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.test import RequestFactory

from bgsite import forwarded


@pytest.fixture(autouse=True)
def nothing_warned_yet() -> Iterator[None]:
    forwarded._warned.clear()
    yield
    forwarded._warned.clear()


def warnings_for(caplog: Any, **meta: Any) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bgsite.forwarded"):
        forwarded.untrusted_proxy_middleware(lambda request: None)(RequestFactory().get("/healthz", **meta))
    return [record.getMessage() for record in caplog.records]


def test_a_proxy_uvicorn_does_not_trust_is_named_with_the_setting_once(caplog: Any) -> None:
    # uvicorn left the scheme http and the client the proxy's own address: it did not trust 10.0.0.5.
    untrusted = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    [warning] = warnings_for(caplog, **untrusted)
    assert "requests from 10.0.0.5 carry X-Forwarded-Proto or X-Forwarded-For" in warning
    assert "FORWARDED_ALLOW_IPS=10.0.0.5" in warning and "not read from .env" in warning
    assert warnings_for(caplog, **untrusted) == []  # once for each address
    assert warnings_for(caplog, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9") == []
    assert len(warnings_for(caplog, REMOTE_ADDR="10.0.0.6", HTTP_X_FORWARDED_FOR="203.0.113.9")) == 1


def test_the_headers_of_a_trusted_proxy_or_none_say_nothing(caplog: Any) -> None:
    # Trusted, uvicorn made the request https and its client the rightmost address it does not trust.
    trusted = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.9", "secure": True}
    assert warnings_for(caplog, HTTP_X_FORWARDED_PROTO="https", **trusted) == []
    assert warnings_for(caplog, REMOTE_ADDR="10.0.0.5") == []  # no proxy
    assert warnings_for(caplog, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_PROTO="http") == []  # true of a plain one


def test_addresses_warned_about_are_bounded(caplog: Any) -> None:
    for number in range(forwarded.MAX_ADDRESSES_WARNED + 3):
        warnings_for(caplog, REMOTE_ADDR=f"192.0.2.{number}", HTTP_X_FORWARDED_PROTO="https")
    assert len(forwarded._warned) == forwarded.MAX_ADDRESSES_WARNED


@pytest.mark.live
def test_uvicorn_started_without_trusting_the_proxy_logs_it(server_factory: Any) -> None:
    # As behind a proxy at another address than FORWARDED_ALLOW_IPS names (or with it set in .env only).
    server = server_factory(FORWARDED_ALLOW_IPS="10.9.9.9", EMBEDDED_WORKERS="0")
    server.start()
    try:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        assert requests.get(f"{server.url}/healthz", headers=headers, timeout=10).ok
        deadline = time.monotonic() + 10
        while "FORWARDED_ALLOW_IPS=127.0.0.1" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert re.search(
            r"WARNING bgsite\.forwarded( \[[^]]*\])?: requests from 127\.0\.0\.1 carry X-Forwarded-Proto", server.log()
        )
    finally:
        server.stop()


@pytest.mark.live
def test_uvicorn_trusting_the_proxy_logs_nothing(embedded_server: Any) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}  # from 127.0.0.1, trusted by default
    assert requests.get(f"{embedded_server.url}/healthz", headers=headers, timeout=10).ok
    requests.get(f"{embedded_server.url}/healthz", timeout=10)  # a later request: the log has what came before
    assert "bgsite.forwarded" not in embedded_server.log()
