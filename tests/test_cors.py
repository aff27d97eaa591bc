"""Calls to the APIs from another site's page (bgsite/cors.py): a real browser on another origin, and the headers."""

import functools
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import CHROMIUM, LiveServer, free_port, launch_chromium, photo_bytes, require_or_skip

pytestmark = pytest.mark.live

PAGE = """<!doctype html><title>another site</title><p>a shop's back office</p>"""


@pytest.fixture(scope="module")
def other_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another origin (a port of its own) serving a page and a photo, as a shop's own web app would."""
    folder = tmp_path_factory.mktemp("other-site")
    (folder / "index.html").write_text(PAGE)
    (folder / "photo.jpg").write_bytes(photo_bytes(size=(320, 240)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_address[1]}"
    site.shutdown()


@pytest.fixture(scope="module")
def cors_server(server_factory: Any, other_site: str) -> LiveServer:
    server: LiveServer = server_factory(CORS_ALLOWED_ORIGINS=other_site, MAX_UPLOAD_BYTES="200000")
    server.start()
    return server


CALLS_FROM_THE_PAGE = """async ([api, key]) => {
    const photo = await (await fetch("/photo.jpg")).blob();
    const form = new FormData();
    form.append("image_file", photo, "photo.jpg");
    const cutout = await fetch(api + "/v1.0/removebg", {method: "POST", headers: {"X-Api-Key": key}, body: form});
    const big = new FormData();
    big.append("image_file", new Blob([new Uint8Array(300000)]), "big.jpg");
    const refused = await fetch(api + "/v1.0/removebg", {method: "POST", headers: {"X-Api-Key": key}, body: big});
    let page = "read";
    try { await fetch(api + "/accounts/"); } catch (error) { page = "blocked"; }
    return {
        status: cutout.status, type: cutout.headers.get("Content-Type"), width: cutout.headers.get("X-Width"),
        bytes: (await cutout.arrayBuffer()).byteLength,
        refused: refused.status, refusal: (await refused.json()).errors[0].code, page,
    };
}"""


@pytest.mark.browser
def test_a_page_on_an_allowed_origin_calls_the_api_with_a_key_and_reads_replies_and_errors(
    cors_server: LiveServer, other_site: str
) -> None:
    if not CHROMIUM.exists():
        require_or_skip("chromium not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    key = cors_server.create_user("shop")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(other_site)
        seen = page.evaluate(CALLS_FROM_THE_PAGE, [cors_server.url, key])
        browser.close()
    assert seen["status"] == 200 and seen["type"] == "image/png" and seen["bytes"] > 1000
    assert seen["width"] is not None  # an exposed header; without it the page reads null
    # The ASGI door's refusal of a file over MAX_UPLOAD_BYTES (remove.bg's 400) carries the CORS headers too:
    # the page reads it instead of a network failure.
    assert (seen["refused"], seen["refusal"]) == (400, "file_too_large")
    assert seen["page"] == "blocked"  # the site's own pages are not opened to other origins


def preflight_of(url: str, origin: str, method: str, headers: str) -> requests.Response:
    """The browser's preflight of a `method` call to `url` from a page of `origin` that sends `headers`."""
    asking = {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}
    return requests.options(url, headers=asking, timeout=10)


def test_preflight_and_origins_not_listed(cors_server: LiveServer, other_site: str) -> None:
    preflight = preflight_of(
        f"{cors_server.url}/bgremove", other_site, "POST", "x-api-key, www-authenticate, idempotency-key, content-type"
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == other_site
    assert {"x-api-key", "www-authenticate", "idempotency-key"} <= set(
        preflight.headers["Access-Control-Allow-Headers"].split(", ")
    )
    assert "Access-Control-Allow-Credentials" not in preflight.headers  # never with the visitor's cookies
    stranger = requests.get(f"{cors_server.url}/v1.0/account", headers={"Origin": "https://evil.example"}, timeout=10)
    assert stranger.status_code == 403 and "Access-Control-Allow-Origin" not in stranger.headers


def test_a_page_elsewhere_may_ask_for_a_part_of_a_stored_file_and_read_where_it_lies(
    cors_server: LiveServer, other_site: str
) -> None:
    """A suffix range and If-Range are not safelisted request headers (a preflight names them), and Content-Range,
    Accept-Ranges and ETag are not safelisted reply headers: unlisted, the browser refused the request or the page
    read null."""
    preflight = preflight_of(f"{cors_server.url}/api/v1/store/x", other_site, "GET", "range, if-range")
    assert {"range", "if-range"} <= set(preflight.headers["Access-Control-Allow-Headers"].split(", "))
    key = cors_server.create_user("seeker")
    link = requests.post(
        f"{cors_server.url}/store", files={"file": ("a.jpg", photo_bytes(size=(64, 48)))}, data={"key": key}, timeout=30
    ).json()["link"]
    part = requests.get(link, headers={"Origin": other_site, "X-Api-Key": key, "Range": "bytes=-10"}, timeout=10)
    assert part.status_code == 206 and part.headers["Access-Control-Allow-Origin"] == other_site
    exposed = set(part.headers["Access-Control-Expose-Headers"].split(", "))
    assert {"Content-Range", "Accept-Ranges", "ETag"} <= exposed


def test_no_origin_is_allowed_by_default(embedded_server: LiveServer) -> None:
    reply = requests.get(f"{embedded_server.url}/api/v1/models", headers={"Origin": "https://app.example"}, timeout=10)
    assert reply.status_code == 200 and "Access-Control-Allow-Origin" not in reply.headers


def test_every_header_an_api_reply_carries_is_exposed(embedded_server: LiveServer) -> None:
    """A header an API reply adds that is not in cors.REPLY_HEADERS would read as null on another site's page."""
    from bgsite.cors import REPLY_HEADERS

    key = embedded_server.create_user("headers")
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file": ("a.jpg", photo_bytes(size=(160, 120)))},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    ours = {name for name in reply.headers if name.startswith(("X-", "RateLimit-"))} - {"X-Content-Type-Options"}
    assert ours and ours - {"X-Frame-Options"} <= set(REPLY_HEADERS)


def test_the_path_rule_names_every_api_and_no_page() -> None:
    import re

    from bgsite.cors import API_PATHS

    apis = ["/api/v1/batches", "/api/schema", "/bgremove", "/store", "/store/1", "/v1.0/removebg", "/v1.0/account"]
    pages = ["/", "/accounts/", "/batches/", "/admin/", "/static/app.js", "/ws/batches/1", "/api/docs", "/storefront"]
    assert [path for path in apis if not re.match(API_PATHS, path)] == []
    assert [path for path in pages if re.match(API_PATHS, path)] == []
