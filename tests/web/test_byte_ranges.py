"""A part of a stored file (a cutout, its mask, an original, a thumbnail, a display copy, a /store image) asked for
with `Range`: a video player seeking, a download manager resuming (removal.web.byte_ranges)."""

import gc
import warnings
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils.http import http_date, parse_http_date

from accounts.services import api_key_create
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from tests.conftest import LiveServer, photo_bytes
from tests.web.test_batch_api import create_batch, jpeg, json_error
from tests.web.test_conditional_downloads import FILES

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(api: Any) -> Item:
    batch = create_batch(api, jpeg("a.jpg"))
    run_ready_jobs()
    return Item.objects.get(pk=batch["items"][0]["id"])


def whole(api: Any, url: str) -> bytes:
    reply = api.get(url)
    assert reply.status_code == 200
    return b"".join(reply)


@pytest.mark.parametrize("file", FILES)
def test_each_stored_file_sends_the_part_asked_for(api: Any, item: Item, file: str) -> None:
    """Each was a full 200 without Accept-Ranges, whatever Range said."""
    url = f"/api/v1/items/{item.id}/{file}"
    full = api.get(url)
    assert full["Accept-Ranges"] == "bytes"
    body = b"".join(full)
    part = api.get(url, headers={"Range": "bytes=2-9"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 2-9/{len(body)}" and part["Content-Length"] == "8"
    assert b"".join(part) == body[2:10]
    assert part["ETag"] == full["ETag"] and part["Content-Type"] == full["Content-Type"]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-", 100, None),
        ("bytes=-50", -50, None),
        ("bytes=10-99999999999", 10, None),  # a last byte past the end: up to the end
        ("bytes=-99999999999", 0, None),  # a suffix longer than the file: all of it
        ("BYTES=3-4", 3, 4),  # the unit is a token, compared without regard to case
    ],
)
def test_each_form_of_a_range_is_that_slice(api: Any, item: Item, header: str, first: int, last: int | None) -> None:
    url = f"/api/v1/items/{item.id}/original"
    body = whole(api, url)
    expected = body[first : None if last is None else last + 1]
    part = api.get(url, headers={"Range": header})
    assert part.status_code == 206
    assert b"".join(part) == expected and part["Content-Length"] == str(len(expected))
    start = len(body) - len(expected) if first < 0 else first
    assert part["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(body)}"


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{beyond}", "bytes=-0"])
def test_a_range_past_the_end_is_a_416_naming_the_size(api: Any, item: Item, header: str) -> None:
    url = f"/api/v1/items/{item.id}/result"
    size = len(whole(api, url))
    reply = api.get(url, headers={"Range": header.format(size=size, beyond=size + 10)})
    assert json_error(reply, 416) == "the range asked for starts past the end of the file"
    assert reply["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize(
    "header",
    ["bytes=0-1,5-6", "bytes=9-2", "bytes=-", "bytes=a-b", "items=0-1", "bytes=0-1-2", "bytes=" + "9" * 5000 + "-"],
)
def test_several_ranges_or_a_header_it_does_not_read_is_the_whole_file(api: Any, item: Item, header: str) -> None:
    """RFC 9110 (14.2) lets a server ignore Range; a 5,000-digit number would fail int() past Python's limit."""
    url = f"/api/v1/items/{item.id}/result"
    body = whole(api, url)
    reply = api.get(url, headers={"Range": header})
    assert reply.status_code == 200 and b"".join(reply) == body and "Content-Range" not in reply


def test_if_range_with_the_current_etag_or_date_is_the_part_else_the_whole_file(api: Any, item: Item) -> None:
    url = f"/api/v1/items/{item.id}/result"
    full = api.get(url)
    body, etag, modified = b"".join(full), full["ETag"], full["Last-Modified"]
    for held in (etag, modified):
        part = api.get(url, headers={"Range": "bytes=0-3", "If-Range": held})
        assert part.status_code == 206 and b"".join(part) == body[:4], held
    earlier = http_date(parse_http_date(modified) - 1)
    for stale in ('"something-else"', f"W/{etag}", earlier, "not a date"):
        reply = api.get(url, headers={"Range": "bytes=0-3", "If-Range": stale})
        assert reply.status_code == 200 and b"".join(reply) == body, stale


def test_head_with_a_range_gives_the_parts_headers_without_a_body(api: Any, item: Item) -> None:
    url = f"/api/v1/items/{item.id}/result"
    size = len(whole(api, url))
    reply = api.head(url, headers={"Range": "bytes=5-"})
    assert reply.status_code == 206 and reply.content == b""
    assert reply["Content-Range"] == f"bytes 5-{size - 1}/{size}" and reply["Content-Length"] == str(size - 5)
    assert api.head(url)["Accept-Ranges"] == "bytes"


def test_a_held_copy_is_a_304_before_any_range(api: Any, item: Item) -> None:
    url = f"/api/v1/items/{item.id}/result"
    etag = api.get(url)["ETag"]
    assert api.get(url, headers={"Range": "bytes=0-3", "If-None-Match": etag}).status_code == 304


def test_another_account_asking_for_a_range_learns_nothing(api: Any, item: Item, other_user: Any) -> None:
    _, other_key = api_key_create(user=other_user, name="b")
    intruder = Client(headers={"X-Api-Key": other_key})
    for file in FILES:
        url = f"/api/v1/items/{item.id}/{file}"
        for header in ("bytes=0-3", "bytes=999999999-"):
            assert json_error(intruder.get(url, headers={"Range": header}), 404) == "no such item"
            assert Client().get(url, headers={"Range": header}).status_code == 401


def test_an_image_kept_by_store_sends_a_part_too(api: Any) -> None:
    link = api.post("/store", {"file": jpeg()}).json()["link"]
    body = whole(api, link)
    part = api.get(link, headers={"Range": "bytes=-4"})
    assert part.status_code == 206 and b"".join(part) == body[-4:]


@pytest.mark.live
def test_a_served_process_sends_the_part_and_its_headers(embedded_server: LiveServer) -> None:
    """Over real HTTP, through the server's protocols and the body sent off the event loop."""
    key = embedded_server.create_user("ranges")
    photo = photo_bytes("astronaut.png", size=(320, 240))
    stored = requests.post(
        f"{embedded_server.url}/store", files={"file": ("me.jpg", photo, "image/jpeg")}, data={"key": key}, timeout=30
    )
    link, size = stored.json()["link"], len(photo)
    part = requests.get(link, headers={"X-Api-Key": key, "Range": "bytes=100-"}, timeout=10)
    assert part.status_code == 206 and part.content == photo[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    assert part.headers["Content-Length"] == str(size - 100) and part.headers["Accept-Ranges"] == "bytes"
    head = requests.head(link, headers={"X-Api-Key": key, "Range": "bytes=-10"}, timeout=10)
    assert head.status_code == 206 and head.content == b"" and head.headers["Content-Length"] == "10"
    past = requests.get(link, headers={"X-Api-Key": key, "Range": f"bytes={size}-"}, timeout=10)
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("headers", [{}, {"Range": "bytes=0-3"}, {"Range": "bytes=999999999-"}])
def test_head_and_a_416_leave_no_file_open(api: Any, item: Item, headers: dict[str, str]) -> None:
    """A HEAD opened the file for its size and never read it: the handle was left to the garbage collector."""
    url = f"/api/v1/items/{item.id}/result"
    gc.collect()  # what earlier tests left: a reply whose body was never read keeps its file to the collector
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        api.head(url, headers=headers)
        api.get(url, headers={"Range": "bytes=999999999-"})
        gc.collect()
    assert [str(warning.message) for warning in caught if warning.category is ResourceWarning] == []
