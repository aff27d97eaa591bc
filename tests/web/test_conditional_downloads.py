"""A stored file downloaded again (a cutout, its mask, an original, a thumbnail, a kept /store image) is a 304 when
the client names the copy it holds (If-None-Match, If-Modified-Since), once the caller is known to own it."""

import hashlib
from typing import Any

import pytest
from django.test import Client

from accounts.services import api_key_create
from removal import services
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from tests.conftest import half_mask
from tests.web.test_batch_api import create_batch, jpeg, json_error

pytestmark = pytest.mark.django_db

FILES = ("result", "original", "mask", "result/thumbnail", "original/thumbnail", "original/display")


@pytest.fixture
def item(api: Any) -> Item:
    batch = create_batch(api, jpeg("a.jpg"))
    run_ready_jobs()
    return Item.objects.get(pk=batch["items"][0]["id"])


@pytest.mark.parametrize("file", FILES)
def test_a_file_sent_again_with_what_its_reply_named_is_a_304_without_a_body(api: Any, item: Item, file: str) -> None:
    """Each download was a full 200, whatever the client said it held."""
    url = f"/api/v1/items/{item.id}/{file}"
    first = api.get(url)
    assert first.status_code == 200 and b"".join(first)
    etag, modified = first["ETag"], first["Last-Modified"]
    for held in ({"If-None-Match": etag}, {"If-Modified-Since": modified}, {"If-None-Match": f'"x", {etag}'}):
        again = api.get(url, headers=held)
        assert again.status_code == 304 and again.content == b"", held
        assert again["ETag"] == etag and again["Cache-Control"] == first["Cache-Control"]
    assert api.head(url, headers={"If-None-Match": etag}).status_code == 304
    changed = api.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and b"".join(changed) == b"".join(api.get(url))


def test_the_etag_of_a_result_or_an_original_is_the_digest_kept_of_it(api: Any, item: Item) -> None:
    for file, digest in (("result", item.result_sha256), ("original", item.source_sha256)):
        reply = api.get(f"/api/v1/items/{item.id}/{file}")
        assert reply["ETag"] == f'"{digest}"' == f'"{hashlib.sha256(b"".join(reply)).hexdigest()}"'


def test_an_edited_cutout_is_sent_whole_to_a_client_that_holds_the_one_before(api: Any, item: Item) -> None:
    held = {file: api.get(f"/api/v1/items/{item.id}/{file}")["ETag"] for file in ("result", "mask")}
    services.item_mask_save(item=item, mask_png=half_mask((item.width, item.height)))
    for file, etag in held.items():
        reply = api.get(f"/api/v1/items/{item.id}/{file}", headers={"If-None-Match": etag})
        assert reply.status_code == 200 and reply["ETag"] != etag, file


def test_another_account_naming_the_etag_learns_nothing(api: Any, item: Item, other_user: Any) -> None:
    """Ownership first: a 304 would tell a stranger that the item exists and what it holds."""
    _, other_key = api_key_create(user=other_user, name="b")
    intruder = Client(headers={"X-Api-Key": other_key})
    for file in FILES:
        url = f"/api/v1/items/{item.id}/{file}"
        etag = api.get(url)["ETag"]
        assert json_error(intruder.get(url, headers={"If-None-Match": etag}), 404) == "no such item"
        assert Client().get(url, headers={"If-None-Match": etag}).status_code == 401


def test_an_image_kept_by_store_is_a_304_too(api: Any) -> None:
    link = api.post("/store", {"file": jpeg()}).json()["link"]
    first = api.get(link)
    assert first.status_code == 200 and api.get(link, headers={"If-None-Match": first["ETag"]}).status_code == 304
