"""GET /api/v1/items/<id>/result/thumbnail, .../original/thumbnail and .../original/display
(removal.services.thumbnails)."""

import io
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from removal import services
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from removal.services.thumbnails import MAKERS, thumbnail_name
from tests.conftest import heic_bytes, photo_bytes, run_deferred_file_deletions
from tests.web.test_batch_api import create_batch, jpeg, json_error
from tests.web.test_item_mask import finished_item, left_half_mask, png

pytestmark = pytest.mark.django_db


def thumbnail(api: Any, url: str) -> Image.Image:
    reply = api.get(url)
    assert reply.status_code == 200, reply.content
    assert reply["Content-Type"] == "image/webp"
    image = Image.open(io.BytesIO(b"".join(reply)))
    image.load()
    return image


def alpha_of(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(image.convert("RGBA").getchannel("A").resize(size, Image.Resampling.BOX), dtype=np.float32)


def test_a_page_batchs_worker_makes_the_thumbnails_of_the_cutout_and_of_its_photo(api: Any) -> None:
    item = finished_item(api)
    stored = Item.objects.get(pk=item["id"])
    assert default_storage.exists(thumbnail_name(stored.result.name))  # made with the cutout
    assert default_storage.exists(thumbnail_name(stored.source.name))  # from the photo the worker decoded
    assert item["result_thumbnail"] == f"/api/v1/items/{item['id']}/result/thumbnail"

    small = thumbnail(api, item["result_thumbnail"])
    original = thumbnail(api, item["original_thumbnail"])

    assert small.size == original.size == (256, 192)
    result = Image.open(io.BytesIO(b"".join(api.get(item["result"]))))
    assert np.abs(alpha_of(small, small.size) - alpha_of(result, small.size)).mean() < 3
    assert original.mode == "RGB"
    photo = Image.open(stored.source).resize(original.size, Image.Resampling.BOX)
    assert np.abs(np.asarray(original, dtype=np.int16) - np.asarray(photo, dtype=np.int16)).mean() < 6


def test_an_edit_shows_in_the_thumbnail_and_a_revert_brings_back_the_models(api: Any) -> None:
    item = finished_item(api)
    models = np.asarray(thumbnail(api, item["result_thumbnail"]).getchannel("A"))

    edited = api.post(item["mask"], {"mask": png(left_half_mask())}).json()
    alpha = np.asarray(thumbnail(api, edited["result_thumbnail"]).getchannel("A"))
    assert (alpha[:, :120] == 255).all() and (alpha[:, 136:] == 0).all()

    api.delete(item["mask"])
    assert np.array_equal(np.asarray(thumbnail(api, item["result_thumbnail"]).getchannel("A")), models)


def test_a_queued_item_has_no_result_thumbnail_yet(api: Any) -> None:
    batch = create_batch(api, jpeg())
    (item,) = batch["items"]
    assert item["result_thumbnail"] is None
    assert "no result" in json_error(api.get(f"/api/v1/items/{item['id']}/result/thumbnail"), 404)
    assert thumbnail(api, item["original_thumbnail"]).size == (256, 192)

    run_ready_jobs()  # the worker's thumbnail of the photo finds this one kept, and leaves no second file
    folder = PurePosixPath(Item.objects.get(pk=item["id"]).source.name).parent
    result_thumbnail = PurePosixPath(thumbnail_name(Item.objects.get(pk=item["id"]).result.name)).name
    kept = {name for name in default_storage.listdir(str(folder))[1] if "thumbnail" in name}
    assert kept == {"source-thumbnail.webp", result_thumbnail}


def test_a_reused_result_comes_with_its_thumbnail(api: Any) -> None:
    finished_item(api)
    (again,) = create_batch(api, jpeg("photo.jpg", size=(320, 240)))["items"]  # the same bytes and options
    assert again["cached"] is True and again["status"] == "done"
    reused = Item.objects.get(pk=again["id"])
    assert default_storage.exists(thumbnail_name(reused.result.name))  # copied
    assert default_storage.exists(thumbnail_name(reused.source.name))  # the same photo's, copied too
    assert thumbnail(api, again["result_thumbnail"]).size == (256, 192)


def test_a_missing_file_is_a_404_not_an_error(api: Any) -> None:
    (item,) = create_batch(api, jpeg())["items"]
    default_storage.delete(Item.objects.get(pk=item["id"]).source.name)
    assert "missing" in json_error(api.get(item["original_thumbnail"]), 404)


def test_a_photo_its_worker_could_not_decode_is_not_decoded_again_for_each_thumbnail_request(
    api: Any, monkeypatch: Any
) -> None:
    truncated = photo_bytes("astronaut.png", size=(320, 240))[:-600]  # its header is whole: it is accepted
    (item,) = create_batch(api, SimpleUploadedFile("cut.jpg", truncated, content_type="image/jpeg"))["items"]
    run_ready_jobs()
    assert Item.objects.get(pk=item["id"]).input_rejected
    decoded: list[bytes] = []
    for kind in MAKERS:
        monkeypatch.setitem(MAKERS, kind, lambda data, **_: decoded.append(data) or b"")

    for url in (item["original_thumbnail"], f"/api/v1/items/{item['id']}/original/display"):
        assert json_error(api.get(url), 404).endswith("of this item's original: it could not be read as an image")
    assert decoded == []


def test_a_tiff_original_gets_a_thumbnail_a_browser_can_show(api: Any) -> None:
    upload = SimpleUploadedFile("scan.tiff", photo_bytes("coffee.png", size=(600, 400), fmt="TIFF"))
    (item,) = create_batch(api, upload)["items"]
    assert thumbnail(api, item["original_thumbnail"]).size == (256, 171)


def test_a_heic_original_has_an_upright_display_image_any_browser_can_show(api: Any) -> None:
    """For compare and the editor, in a browser that cannot show HEIC (Chrome, Firefox): at most 2048 a side."""
    stored_sideways = Image.open(io.BytesIO(photo_bytes("coffee.png", size=(3000, 2000)))).transpose(
        Image.Transpose.ROTATE_90
    )
    upload = SimpleUploadedFile("phone.heic", heic_bytes(stored_sideways, orientation=6))
    (item,) = create_batch(api, upload)["items"]
    assert (item["width"], item["height"]) == (3000, 2000)
    assert item["original_display"] == f"/api/v1/items/{item['id']}/original/display"

    shown = thumbnail(api, item["original_display"])
    assert shown.size == (2048, 1365)
    upright = Image.open(io.BytesIO(photo_bytes("coffee.png", size=(2048, 1365))))
    assert np.abs(np.asarray(shown, dtype=np.int16) - np.asarray(upright, dtype=np.int16)).mean() < 6
    assert thumbnail(api, item["original_thumbnail"]).size == (256, 171)
    assert default_storage.exists(thumbnail_name(Item.objects.get(pk=item["id"]).source.name, "display"))


def test_another_users_thumbnails_are_404(api: Any, other_user: Any) -> None:
    item = finished_item(api)
    other = Item.objects.get(pk=item["id"])
    other.batch.owner = other_user
    other.batch.save()
    for url in (item["result_thumbnail"], item["original_thumbnail"], item["original_display"]):
        json_error(api.get(url), 404)


def test_deleting_the_item_deletes_its_thumbnails(api: Any) -> None:
    item = finished_item(api)
    thumbnail(api, item["original_thumbnail"])
    stored = Item.objects.get(pk=item["id"])
    names = [thumbnail_name(stored.result.name), thumbnail_name(stored.source.name)]
    assert all(default_storage.exists(name) for name in names)
    assert api.delete(f"/api/v1/items/{item['id']}").status_code == 204
    assert all(default_storage.exists(name) for name in names), "kept for a download already under way"
    assert run_deferred_file_deletions() == 1
    assert not any(default_storage.exists(name) for name in names)


def test_a_bgremove_call_makes_no_thumbnail(user: Any) -> None:
    """Its caller waits for the one image; nobody looks at a card of it."""
    item = services.image_submit(owner=user, upload=ContentFile(photo_bytes(size=(320, 240)), name="one.jpg"))
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    assert item.status == "done" and item.batch.kind == "bgremove"
    assert not default_storage.exists(thumbnail_name(item.result.name))
    assert not default_storage.exists(thumbnail_name(item.source.name))


def test_the_thumbnail_is_named_after_its_file() -> None:
    name = "users/1/batches/b/i/cutout-abcd1234.png"
    assert thumbnail_name(name) == "users/1/batches/b/i/cutout-abcd1234-thumbnail.webp"
    assert PurePosixPath(thumbnail_name("a/source.jpg")).name == "source-thumbnail.webp"
    assert PurePosixPath(thumbnail_name("a/source.heic", "display")).name == "source-display.webp"
