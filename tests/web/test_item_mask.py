"""POST/DELETE /api/v1/items/<id>/mask: a hand-edited mask becomes the item's newest result."""

import hashlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.services import api_key_create
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from removal.services.edits import ItemNotEditable, item_mask_save
from tests.web.test_batch_api import create_batch, jpeg, json_error

pytestmark = pytest.mark.django_db

WIDTH, HEIGHT = 320, 240


def png(image: Image.Image) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile("mask.png", buffer.getvalue(), content_type="image/png")


def left_half_mask(size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    mask[:, : size[0] // 2] = 255
    return Image.fromarray(mask)


def finished_item(api: Any, **options: str) -> dict[str, Any]:
    reply = api.post("/api/v1/batches", {"files": [jpeg("photo.jpg", size=(WIDTH, HEIGHT))], **options})
    assert reply.status_code == 201, reply.content
    run_ready_jobs()
    batch = api.get(f"/api/v1/batches/{reply.json()['id']}").json()
    assert batch["items"][0]["status"] == "done"
    return {**batch["items"][0], "batch": batch}


def result_image(api: Any, item: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(b"".join(api.get(item["result"]))))


def test_an_edited_mask_becomes_the_result_download_and_zip_member(api: Any) -> None:
    item = finished_item(api)
    assert item["edited"] is False and item["mask"] == f"/api/v1/items/{item['id']}/mask"

    reply = api.post(item["mask"], {"mask": png(left_half_mask())})

    assert reply.status_code == 200, reply.content
    edited = reply.json()
    assert edited["edited"] is True
    assert edited["revision"] > item["revision"]  # the page and the websocket keep the newest
    alpha = np.asarray(result_image(api, edited).getchannel("A"))
    assert alpha.shape == (HEIGHT, WIDTH)
    assert (alpha[:, : WIDTH // 2 - 1] == 255).all() and (alpha[:, WIDTH // 2 + 1 :] == 0).all()
    with zipfile.ZipFile(io.BytesIO(b"".join(api.get(item["batch"]["zip"])))) as archive:
        member = np.asarray(Image.open(archive.open("photo.png")).getchannel("A"))
        (entry,) = json.loads(archive.read("manifest.json"))["items"]
        assert entry["sha256"] == hashlib.sha256(archive.read("photo.png")).hexdigest()  # the edit's own
        assert entry["edited"] is True
    assert np.array_equal(member, alpha)


def test_a_scaled_down_mask_is_scaled_up_and_a_raw_png_body_works(api: Any) -> None:
    """The hand editor sends a photo larger than its working copy (2048 a side) as that copy."""
    reply = api.post("/api/v1/batches", {"files": [jpeg("photo.jpg", size=(2560, 1920))]})
    run_ready_jobs()
    item = api.get(f"/api/v1/batches/{reply.json()['id']}").json()["items"][0]
    body = png(left_half_mask((2048, 1536))).read()

    reply = api.post(item["mask"], body, content_type="image/png")

    assert reply.status_code == 200, reply.content
    alpha = np.asarray(result_image(api, reply.json()).getchannel("A"))
    assert alpha.shape == (1920, 2560)
    assert (alpha[:, :1270] == 255).all() and (alpha[:, 1290:] == 0).all()


def test_a_mask_smaller_than_the_editor_sends_is_a_400_naming_the_size(api: Any) -> None:
    """A 1x1 mask was taken for this 320x240 photo, as for any photo no more than twice as tall as wide, and made
    its result: a size check to a pixel, where rounding moves a side by less, and scaling down as far as one liked
    (7th hostile probe). The editor sends a photo of 2048 pixels a side or less at its own size."""
    item = finished_item(api)
    for size in ((1, 1), (WIDTH // 2, HEIGHT // 2), (WIDTH - 1, HEIGHT)):
        error = json_error(api.post(item["mask"], {"mask": png(left_half_mask(size))}), 400)
        assert error == f"the mask is {size[0]}x{size[1]}; send it at 320x240 (the original's size)"
    assert api.get(f"/api/v1/items/{item['id']}").json()["edited"] is False


def test_a_raw_png_body_larger_than_djangos_form_limit_is_read(api: Any, settings: Any) -> None:
    """A large photo's mask may pass DATA_UPLOAD_MAX_MEMORY_SIZE, a limit for form fields, not for an image."""
    item = finished_item(api)
    mask = png(left_half_mask()).read()
    padding = b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)  # an ancillary chunk decoders skip
    chunk = struct.pack(">I", len(padding)) + b"prVt" + padding + struct.pack(">I", zlib.crc32(b"prVt" + padding))
    large = mask[:-12] + chunk + mask[-12:]  # before IEND
    reply = api.post(f"/api/v1/items/{item['id']}/mask", large, content_type="image/png")
    assert reply.status_code == 200, reply.content
    assert reply.json()["edited"] is True
    too_large = api.post(
        f"/api/v1/items/{item['id']}/mask", b"\0" * (settings.MAX_UPLOAD_BYTES + 1), content_type="image/png"
    )
    assert json_error(too_large, 413) == "the mask is larger than 25 MB, the limit per file"


def test_an_alpha_channel_is_the_mask(api: Any) -> None:
    item = finished_item(api)
    rgba = Image.new("RGBA", (WIDTH, HEIGHT), (255, 0, 0, 0))
    rgba.putalpha(left_half_mask())

    reply = api.post(item["mask"], {"mask": png(rgba)})

    alpha = np.asarray(result_image(api, reply.json()).getchannel("A"))
    assert (alpha[:, :100] == 255).all() and (alpha[:, 220:] == 0).all()


def test_an_edited_result_keeps_the_batchs_background_colour_and_crop(api: Any) -> None:
    item = finished_item(api, bg_color="00ff00", crop="true")
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[60:180, 40:120] = 255
    mask[100:140, 60:100] = 0  # a hole, where the background colour shows

    reply = api.post(item["mask"], {"mask": png(Image.fromarray(mask))})

    result = result_image(api, reply.json()).convert("RGBA")
    assert result.size == (80, 120)  # cropped to the edited subject
    assert result.getpixel((40, 60)) == (0, 255, 0, 255)
    assert result.getpixel((5, 5))[3] == 255


def test_head_reads_the_mask_and_never_changes_the_item(api: Any) -> None:
    """HEAD is a GET without its body, whatever it carries: not a revert, not an edit."""
    item = finished_item(api)
    edited = api.post(item["mask"], {"mask": png(left_half_mask())}).json()
    mask = png(left_half_mask())
    for head in (
        api.head(item["mask"] + "?revert=1"),
        api.generic("HEAD", item["mask"], mask.read(), content_type="image/png"),
    ):
        assert head.status_code == 200 and head["Content-Type"] == "image/png"
        assert head["Content-Length"] == api.get(item["mask"])["Content-Length"]
    assert api.get(f"/api/v1/items/{item['id']}").json()["revision"] == edited["revision"]


def test_revert_restores_the_models_cutout(api: Any) -> None:
    item = finished_item(api)
    model_bytes = b"".join(api.get(item["result"]))
    api.post(item["mask"], {"mask": png(left_half_mask())})
    edited_again = api.post(item["mask"], {"mask": png(Image.new("L", (WIDTH, HEIGHT), 255))}).json()

    by_flag = api.post(item["mask"] + "?revert=1")
    assert by_flag.status_code == 200, by_flag.content
    assert by_flag.json()["edited"] is False
    assert by_flag.json()["revision"] > edited_again["revision"]
    assert b"".join(api.get(item["result"])) == model_bytes

    api.post(item["mask"], {"mask": png(left_half_mask())})
    by_delete = api.delete(item["mask"])
    assert by_delete.status_code == 200 and by_delete.json()["edited"] is False
    assert b"".join(api.get(item["result"])) == model_bytes


def test_an_edited_result_is_never_reused_for_another_upload(api: Any) -> None:
    item = finished_item(api)
    model_bytes = b"".join(api.get(item["result"]))
    api.post(item["mask"], {"mask": png(left_half_mask())})

    again = finished_item(api)

    assert again["cached"] is True
    assert b"".join(api.get(again["result"])) == model_bytes


@pytest.mark.parametrize(
    ("mask", "error"),
    [
        (SimpleUploadedFile("mask.png", b"not a png at all"), "the mask is not an image we can read"),
        (png(Image.new("RGB", (WIDTH, HEIGHT))), "the mask is RGB; send it as grayscale"),
        (png(Image.new("L", (WIDTH, WIDTH))), "the mask is 320x320; send it at 320x240"),
        (png(Image.new("L", (WIDTH * 2, HEIGHT * 2))), "the mask is 640x480"),
    ],
)
def test_a_bad_mask_is_a_clear_400(api: Any, mask: Any, error: str) -> None:
    item = finished_item(api)
    mask.seek(0)
    assert json_error(api.post(item["mask"], {"mask": mask}), 400).startswith(error)
    assert api.get(f"/api/v1/items/{item['id']}/result").status_code == 200
    assert api.get(f"/api/v1/batches/{item['batch']['id']}").json()["items"][0]["edited"] is False


def test_a_mask_that_cannot_fit_is_refused_from_its_header_before_it_is_decoded(api: Any) -> None:
    """A 7000x7000 PNG (190 KB) for a 320x240 photo was decoded whole, 0.85 s and hundreds of MB, then refused: its
    header now says enough. Cut short after its header, it is refused for its size, not as unreadable (fifth probe)."""
    item = finished_item(api)
    whole = png(Image.new("RGBA", (7000, 7000))).read()
    cut_short = SimpleUploadedFile("mask.png", whole[:200], content_type="image/png")
    assert json_error(api.post(item["mask"], {"mask": cut_short}), 400).startswith("the mask is 7000x7000; send it at")


def test_two_masks_are_a_clear_400_not_the_last_taken(api: Any) -> None:
    item = finished_item(api)
    masks = [png(left_half_mask()), png(Image.new("L", (WIDTH, HEIGHT), 255))]
    assert json_error(api.post(item["mask"], {"mask": masks}), 400) == "send one mask, not 2"
    assert api.get(f"/api/v1/batches/{item['batch']['id']}").json()["items"][0]["edited"] is False


def test_a_revert_word_it_does_not_know_is_a_400_not_an_edit(api: Any) -> None:
    # "revert=please" was read as no: the mask sent with it became the item's newest result.
    item = finished_item(api)
    reply = api.post(item["mask"] + "?revert=please", {"mask": png(left_half_mask())})
    assert json_error(reply, 400) == "revert: must be true or false, not 'please'"
    assert api.get(f"/api/v1/batches/{item['batch']['id']}").json()["items"][0]["edited"] is False
    assert api.post(item["mask"], {"revert": "yes"}).json()["edited"] is False  # a form field, as documented


def test_no_mask_is_a_clear_400(api: Any) -> None:
    item = finished_item(api)
    assert json_error(api.post(item["mask"], {}), 400).startswith("no mask")


def test_an_unfinished_item_cannot_be_edited(api: Any) -> None:
    batch = create_batch(api, jpeg())
    url = f"/api/v1/items/{batch['items'][0]['id']}/mask"
    assert "only a finished cutout" in json_error(api.post(url, {"mask": png(left_half_mask())}), 409)


def test_an_animated_cutout_cannot_be_edited(api: Any) -> None:
    frames = [Image.new("RGB", (48, 32), colour) for colour in ("red", "blue")]
    animation = io.BytesIO()
    frames[0].save(animation, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    upload = SimpleUploadedFile("moving.gif", animation.getvalue(), content_type="image/gif")
    reply = api.post("/api/v1/batches", {"files": [upload], "format": "gif"})
    assert reply.status_code == 201, reply.content
    run_ready_jobs()
    item = api.get(f"/api/v1/batches/{reply.json()['id']}").json()["items"][0]
    assert item["status"] == "done" and item["mask"] is None, item  # no mask is offered for it

    url = f"/api/v1/items/{item['id']}/mask"
    refused = json_error(api.post(url, {"mask": png(left_half_mask((48, 32)))}), 409)

    assert refused == "only still cutouts can be edited, not animations or videos"


def test_an_edit_that_meets_an_improvement_is_refused_and_leaves_nothing(api: Any) -> None:
    """The edit read the item done; an improvement queued it before the edit was recorded (they came together)."""
    item = finished_item(api)
    read_done = Item.objects.get(pk=item["id"])
    Item.objects.filter(pk=item["id"]).update(status="queued", quality="best")  # what batch_improve does
    stored_before = set(storage_files())

    with pytest.raises(ItemNotEditable, match="this item is queued"):
        item_mask_save(item=read_done, mask_png=png(left_half_mask()).read())

    after = Item.objects.get(pk=item["id"])
    assert (after.edits, after.reviewed, after.edited_mask.name, after.model_result.name) == (0, False, "", "")
    assert set(storage_files()) == stored_before  # the edit's cutout, thumbnail and mask deleted again


def test_an_edit_clears_what_an_earlier_failed_improvement_said(api: Any) -> None:
    """An improvement's failure said the item keeps the cutout it had: not so once a person makes a new one (the
    card shows an item's error)."""
    item = finished_item(api)
    failed = {"error": "improving this cutout failed (x); it keeps the one it had", "error_template": "t"}
    Item.objects.filter(pk=item["id"]).update(**failed, error_values={"reason": "x"})

    edited = api.post(item["mask"], {"mask": png(left_half_mask())}).json()

    assert edited["error"] is None
    stored = Item.objects.get(pk=item["id"])
    assert (stored.error, stored.error_template, stored.error_values) == ("", "", {})


def test_an_item_whose_photo_storage_lost_is_a_clear_404_not_a_server_error(api: Any) -> None:
    item = finished_item(api)
    Path(settings.MEDIA_ROOT, Item.objects.get(pk=item["id"]).source.name).unlink()

    for reply in (api.post(item["mask"], {"mask": png(left_half_mask())}), api.delete(item["mask"])):
        assert json_error(reply, 404) == "a stored file of this item is missing, so it cannot be edited"


def storage_files() -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return [str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()]


def test_another_users_item_is_404(api: Any, other_user: Any) -> None:
    item = finished_item(api)
    _, other_key = api_key_create(user=other_user, name="b")
    intruder = Client(headers={"X-Api-Key": other_key})

    assert json_error(intruder.post(item["mask"], {"mask": png(left_half_mask())}), 404) == "no such item"
    assert json_error(intruder.delete(item["mask"]), 404) == "no such item"
    assert api.get(f"/api/v1/batches/{item['batch']['id']}").json()["items"][0]["edited"] is False


def mask_of(api: Any, item: dict[str, Any]) -> np.ndarray:
    reply = api.get(item["mask"])
    assert reply.status_code == 200, reply.content
    with Image.open(io.BytesIO(b"".join(reply))) as mask:
        assert mask.mode == "L"
        return np.asarray(mask)


def test_the_mask_to_start_from_is_the_models_then_the_last_edits(api: Any) -> None:
    item = finished_item(api, bg_color="00ff00", crop="true")
    model_mask = mask_of(api, item)
    assert model_mask.shape == (HEIGHT, WIDTH)
    assert (model_mask == 0).any() and (model_mask == 255).any()

    # Sent as the editor sends it: a black image whose alpha is the mask.
    rgba = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    rgba.putalpha(left_half_mask())
    api.post(item["mask"], {"mask": png(rgba)})
    edited = mask_of(api, item)
    assert edited.shape == (HEIGHT, WIDTH)
    assert (edited[:, : WIDTH // 2 - 2] == 255).all() and (edited[:, WIDTH // 2 + 2 :] == 0).all()

    api.delete(item["mask"])
    assert np.array_equal(mask_of(api, item), model_mask)


def test_a_reused_result_has_the_models_mask_too(api: Any) -> None:
    first = finished_item(api)
    model_mask = mask_of(api, first)
    api.post(first["mask"], {"mask": png(left_half_mask())})
    again = finished_item(api)
    assert again["cached"] is True
    assert np.array_equal(mask_of(api, again), model_mask)
