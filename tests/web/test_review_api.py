"""Flagged cutouts through the batch API, on real pixels: confidence and needs_review in every item,
POST .../review ("looks fine"), a hand edit, and POST /batches/<id>/improve (flagged items again with best)."""

import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from removal.models import DailyUsage, Item
from removal.ops.worker import run_ready_jobs
from tests.web.test_batch_api import jpeg, json_error

pytestmark = pytest.mark.django_db

# A cat filling the frame: the model is sure. Grass has no subject: what the model keeps is specks.
# The rocket on its pad is flagged too, and scores differently with best (so its improvement shows).
CLEAN, MISSED, UNSURE = "chelsea.png", "grass.png", "rocket.jpg"


def finished_batch(api: Any, *photos: str, **fields: str) -> dict[str, Any]:
    files = [jpeg(f"{photo.split('.')[0]}.jpg", photo) for photo in photos]
    reply = api.post("/api/v1/batches", {"files": files, **fields})
    assert reply.status_code == 201, reply.content
    run_ready_jobs()
    return api.get(f"/api/v1/batches/{reply.json()['id']}").json()


def by_name(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["filename"]: item for item in batch["items"]}


def test_a_clean_cutout_is_not_flagged_and_a_badly_missed_one_is(api: Any) -> None:
    batch = finished_batch(api, CLEAN, MISSED)
    items = by_name(batch)
    clean, missed = items["chelsea.jpg"], items["grass.jpg"]
    assert clean["confidence"] >= 0.9 and clean["needs_review"] is False
    assert missed["confidence"] < 0.2 and missed["needs_review"] is True
    for item in (clean, missed):
        assert item["reviewed"] is False and item["quality"] == "fast"
        assert item["confidence"] == round(item["confidence"], 3)
    assert batch["counts"]["needs_review"] == 1
    assert batch["review_below"] == 0.6


def test_a_queued_item_has_no_confidence_yet(api: Any) -> None:
    reply = api.post("/api/v1/batches", {"files": [jpeg("a.jpg", MISSED)]})
    (item,) = reply.json()["items"]
    assert item["confidence"] is None and item["needs_review"] is False
    assert reply.json()["counts"]["needs_review"] == 0


def test_the_operators_threshold_applies_to_items_already_made(api: Any, settings: Any) -> None:
    batch = finished_batch(api, CLEAN, MISSED)
    settings.REVIEW_CONFIDENCE_BELOW = 0.0
    again = api.get(f"/api/v1/batches/{batch['id']}").json()
    assert again["counts"]["needs_review"] == 0 and again["review_below"] == 0.0
    assert not any(item["needs_review"] for item in again["items"])
    settings.REVIEW_CONFIDENCE_BELOW = 1.0
    assert api.get(f"/api/v1/batches/{batch['id']}").json()["counts"]["needs_review"] == 2


def test_review_clears_the_flag_and_keeps_the_result(api: Any) -> None:
    missed = by_name(finished_batch(api, MISSED))["grass.jpg"]
    result = b"".join(api.get(missed["result"]))

    reply = api.post(f"/api/v1/items/{missed['id']}/review")

    assert reply.status_code == 200, reply.content
    reviewed = reply.json()
    assert reviewed["reviewed"] is True and reviewed["needs_review"] is False
    assert reviewed["confidence"] == missed["confidence"]  # still the model's
    assert reviewed["revision"] > missed["revision"]  # pages keep the newest state
    assert b"".join(api.get(reviewed["result"])) == result


def test_a_queued_item_cannot_be_reviewed(api: Any) -> None:
    (item,) = api.post("/api/v1/batches", {"files": [jpeg("a.jpg", MISSED)]}).json()["items"]
    assert "queued" in json_error(api.post(f"/api/v1/items/{item['id']}/review"), 409)


def test_a_hand_edit_clears_the_flag_and_a_revert_keeps_it_cleared(api: Any) -> None:
    missed = by_name(finished_batch(api, MISSED))["grass.jpg"]
    mask = np.zeros((240, 320), dtype=np.uint8)
    mask[60:180, 80:240] = 255
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")

    edited = api.post(missed["mask"], {"mask": SimpleUploadedFile("mask.png", buffer.getvalue())}).json()
    assert edited["edited"] is True and edited["reviewed"] is True and edited["needs_review"] is False

    reverted = api.delete(missed["mask"]).json()
    assert reverted["edited"] is False and reverted["reviewed"] is True and reverted["needs_review"] is False


def test_the_flag_survives_a_rerun(api: Any) -> None:
    batch = finished_batch(api, CLEAN, MISSED)
    reply = api.post(f"/api/v1/batches/{batch['id']}/rerun", {"format": "png"})
    assert reply.status_code == 201, reply.content
    rerun = by_name(reply.json())
    assert rerun["grass.jpg"]["status"] == "done" and rerun["grass.jpg"]["cached"] is True
    assert rerun["grass.jpg"]["needs_review"] is True
    assert rerun["grass.jpg"]["confidence"] == by_name(batch)["grass.jpg"]["confidence"]
    assert rerun["chelsea.jpg"]["needs_review"] is False
    assert reply.json()["counts"]["needs_review"] == 1


def test_improve_runs_only_the_flagged_items_again_with_best(api: Any, settings: Any) -> None:
    batch = finished_batch(api, CLEAN, UNSURE)
    before = by_name(batch)
    fast_result = Item.objects.get(pk=before["rocket.jpg"]["id"]).result.name

    reply = api.post(f"/api/v1/batches/{batch['id']}/improve", {"quality": "best"})

    assert reply.status_code == 202, reply.content
    queued = by_name(reply.json())
    assert queued["rocket.jpg"]["status"] == "queued" and queued["rocket.jpg"]["quality"] == "best"
    assert queued["rocket.jpg"]["revision"] > before["rocket.jpg"]["revision"]
    assert queued["chelsea.jpg"] == before["chelsea.jpg"]  # untouched
    run_ready_jobs()
    after = by_name(api.get(f"/api/v1/batches/{batch['id']}").json())
    assert after["rocket.jpg"]["status"] == "done" and after["rocket.jpg"]["quality"] == "best"
    assert after["rocket.jpg"]["cached"] is False
    assert after["rocket.jpg"]["confidence"] != before["rocket.jpg"]["confidence"]  # the best pass's own
    assert after["chelsea.jpg"]["quality"] == "fast"
    improved = Item.objects.get(pk=after["rocket.jpg"]["id"])
    assert improved.previous_result.name == fast_result  # the fast result is kept, not lost
    assert improved.previous_result.storage.exists(fast_result)
    assert Image.open(io.BytesIO(b"".join(api.get(after["rocket.jpg"]["result"])))).size == (320, 240)
    settings.REVIEW_CONFIDENCE_BELOW = 1.0  # still flagged at best: a person's look, not another run, is next
    assert api.post(f"/api/v1/items/{after['chelsea.jpg']['id']}/review").status_code == 200
    assert "made with quality=best already" in json_error(api.post(f"/api/v1/batches/{batch['id']}/improve"), 409)


def test_the_zip_holds_the_cutouts_being_improved(api: Any) -> None:
    batch = finished_batch(api, UNSURE)
    improving = by_name(api.post(f"/api/v1/batches/{batch['id']}/improve").json())["rocket.jpg"]
    assert improving["status"] == "queued" and improving["result"] and improving["result_thumbnail"]
    assert improving["mask"] is None  # not to be edited while it is made again
    zipped = api.get(batch["zip"])  # every item is being made again: each is there with the cutout it had
    assert zipped.status_code == 200, zipped.content
    with zipfile.ZipFile(io.BytesIO(b"".join(zipped))) as archive:
        assert archive.namelist() == ["rocket.png", "manifest.json"]


def test_improve_takes_a_json_body_and_refuses_other_qualities(api: Any) -> None:
    batch = finished_batch(api, MISSED)
    url = f"/api/v1/batches/{batch['id']}/improve"
    assert "'best'" in json_error(api.post(url, {"quality": "fast"}), 400)
    reply = api.post(url, json.dumps({"quality": "best"}), content_type="application/json")
    assert reply.status_code == 202, reply.content


def test_improve_with_nothing_flagged_is_a_clear_409(api: Any) -> None:
    batch = finished_batch(api, CLEAN)
    assert "nothing to improve" in json_error(api.post(f"/api/v1/batches/{batch['id']}/improve"), 409)


def test_improve_is_refused_past_the_daily_quota(api: Any, settings: Any) -> None:
    batch = finished_batch(api, MISSED)
    settings.DAILY_IMAGE_QUOTA = 1
    json_error(api.post(f"/api/v1/batches/{batch['id']}/improve"), 429)
    assert api.get(f"/api/v1/batches/{batch['id']}").json()["items"][0]["status"] == "done"


def test_the_manifest_carries_the_triage_state(api: Any) -> None:
    batch = finished_batch(api, CLEAN, MISSED, UNSURE)
    assert api.post(f"/api/v1/items/{by_name(batch)['grass.jpg']['id']}/review").status_code == 200
    assert api.post(f"/api/v1/batches/{batch['id']}/improve").status_code == 202
    run_ready_jobs()
    items = by_name(api.get(f"/api/v1/batches/{batch['id']}").json())
    with zipfile.ZipFile(io.BytesIO(b"".join(api.get(batch["zip"])))) as archive:
        entries = {entry["original_name"]: entry for entry in json.loads(archive.read("manifest.json"))["items"]}
    for name, entry in entries.items():
        for field in ("confidence", "needs_review", "quality", "edited", "reviewed"):
            assert entry[field] == items[name][field], (name, field)
    assert (entries["grass.jpg"]["reviewed"], entries["grass.jpg"]["needs_review"]) == (True, False)
    assert (entries["rocket.jpg"]["quality"], entries["chelsea.jpg"]["quality"]) == ("best", "fast")


def test_improve_counts_what_it_runs_against_the_quota_and_in_the_days_usage(api: Any, settings: Any) -> None:
    batch = finished_batch(api, MISSED, UNSURE)
    url = f"/api/v1/batches/{batch['id']}/improve"
    settings.DAILY_IMAGE_QUOTA = 4  # two uploaded, two left: exactly the two flagged
    reply = api.post(url)
    assert reply.status_code == 202, reply.content
    assert reply.json()["improvements"] == 1  # the batch as it is now
    assert "(2 still being made)" in json_error(api.post(url), 409)  # not "nothing needs review"
    run_ready_jobs()
    settings.REVIEW_CONFIDENCE_BELOW = 1.0  # both still flagged, both made with best already
    assert DailyUsage.objects.get().images == 4  # the improvements counted as the uploads were
    assert "made with quality=best already" in json_error(api.post(url), 409)  # not a 429 for work it will not do


def test_an_improvement_is_not_refused_for_the_attempts_its_first_run_took(api: Any, settings: Any) -> None:
    batch = finished_batch(api, UNSURE)
    Item.objects.update(attempts=settings.ITEM_MAX_ATTEMPTS)  # the fast cutout took every attempt
    assert api.post(f"/api/v1/batches/{batch['id']}/improve").status_code == 202
    run_ready_jobs()
    (item,) = api.get(f"/api/v1/batches/{batch['id']}").json()["items"]
    assert item["status"] == "done" and item["quality"] == "best", item["error"]
