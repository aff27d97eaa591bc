"""removal.services.batches: files added to a batch, within its limits."""

from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from removal import services
from removal.cutout.options import Options
from removal.errors import Conflict, QuotaExceeded, TooManyRequests
from removal.models import Batch, DailyUsage, Item
from removal.services import batches
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_bytes("coffee.png", size=(160, 120)))


def stored_sources() -> set[str]:
    return {str(item.source) for item in Item.objects.all()}


def test_requests_side_by_side_do_not_pass_the_batch_limit(
    user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload page sends two files at a time: each request found room for the batch's last place before either
    was inserted, and the batch ended with MAX_ITEMS_PER_BATCH + 1 items. The room is counted again as the items
    go in: the request that comes second has its file refused, in the same words, and nothing of it kept."""
    settings.MAX_ITEMS_PER_BATCH = 2
    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload("a.jpg")])
    queued = batches._queued
    saved: list[str] = []

    def another_request_goes_in_first(batch: Any, items: list[Item], **kwargs: Any) -> tuple[list[Item], list[Item]]:
        saved.extend(str(item.source) for item in items)
        monkeypatch.setattr(batches, "_queued", queued)
        services.batch_add_files(batch=batch, files=[upload("c.jpg")])  # stored and queued while b was stored
        return queued(batch, items, **kwargs)

    monkeypatch.setattr(batches, "_queued", another_request_goes_in_first)
    items, rejected = services.batch_add_files(batch=batch, files=[upload("b.jpg")])

    assert items == []
    assert [(refusal.filename, refusal.error) for refusal in rejected] == [
        ("b.jpg", "the batch is full (2 files at most); start a new batch")
    ]
    assert sorted(batch.items.values_list("filename", flat=True)) == ["a.jpg", "c.jpg"]
    assert saved and not any(default_storage.exists(name) for name in saved)  # b's upload is not kept
    assert len(stored_sources()) == 2


def test_a_request_with_more_files_than_the_room_left_keeps_those_that_fit(
    user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MAX_ITEMS_PER_BATCH = 3
    batch = services.batch_create(owner=user)
    queued = batches._queued

    def another_request_goes_in_first(batch: Any, items: list[Item], **kwargs: Any) -> tuple[list[Item], list[Item]]:
        monkeypatch.setattr(batches, "_queued", queued)
        services.batch_add_files(batch=batch, files=[upload("x.jpg")])
        return queued(batch, items, **kwargs)

    monkeypatch.setattr(batches, "_queued", another_request_goes_in_first)
    items, rejected = services.batch_add_files(batch=batch, files=[upload(f"{name}.jpg") for name in "abc"])

    assert [item.filename for item in items] == ["a.jpg", "b.jpg"]
    assert [refusal.filename for refusal in rejected] == ["c.jpg"]
    assert batch.items.count() == 3


def test_a_refusal_writes_its_numbers_as_the_pages_language_does(user: Any, settings: Any) -> None:
    """The page says "1,000 images per batch" (floatformat:"g"); the refusals it shows said "1000" and "25.1 MB" in
    every language."""
    settings.MAX_ITEMS_PER_BATCH, settings.MAX_UPLOAD_BYTES = 1200, 2_000
    batch = services.batch_create(owner=user)
    with translation.override("de"):
        _, rejected = services.batch_add_files(batch=batch, files=[upload("big.png")])
    assert (
        rejected[0].error.startswith("die Datei hat ")
        and " MB; die Grenze liegt bei 0,002 MB pro Datei" in rejected[0].error
    )
    settings.MAX_UPLOAD_BYTES = 25_000_000
    with translation.override("en"):
        assert batches.batch_full_error() == "the batch is full (1,200 files at most); start a new batch"


def test_a_request_sent_again_gets_the_items_its_first_sending_made(user: Any) -> None:
    """A reply lost on its way (a connection cut, a proxy's timeout) made the page and clients send the file again,
    and the batch had it twice: two cutouts, two credits. Sent again at the same `file_position` with the same
    bytes, it gets the first sending's item; another file at that place, or the same one at another, is new."""
    batch = services.batch_create(owner=user)
    first, _ = services.batch_add_files(batch=batch, files=[upload("a.jpg"), upload("b.jpg")], first_position=4)
    again, rejected = services.batch_add_files(batch=batch, files=[upload("a.jpg"), upload("b.jpg")], first_position=4)
    assert [item.pk for item in again] == [item.pk for item in first] and rejected == []
    assert batch.items.count() == 2 and len(stored_sources()) == 2
    assert DailyUsage.objects.get(owner=user).images == 2
    other = SimpleUploadedFile("a.jpg", photo_bytes("coffee.png", size=(161, 120)))
    moved, _ = services.batch_add_files(batch=batch, files=[upload("a.jpg"), other], first_position=3)
    assert [item.pk for item in moved] != [first[0].pk, first[1].pk] and batch.items.count() == 4
    assert DailyUsage.objects.get(owner=user).images == 4


def test_two_creations_with_one_idempotency_key_at_once_make_one_batch(user: Any) -> None:
    """Both requests missed the other's batch when they looked: the second to save is told to send it again (409),
    with a Retry-After, as every refusal that asks to be sent again (it had none: a client that waits as Retry-After
    says retried at once), which then finds the first's, and the background it stored is not kept."""
    services.batch_create(owner=user, idempotency_key="same")
    background = SimpleUploadedFile("bg.png", photo_bytes("coffee.png", size=(64, 48)))
    with pytest.raises(Conflict, match="Idempotency-Key") as refused:
        services.batch_create(owner=user, idempotency_key="same", background=background)
    assert refused.value.headers == {"Retry-After": "1"}
    assert Batch.objects.count() == 1 and not default_storage.listdir("")[1]
    services.batch_create(owner=user)  # without a key: any number
    services.batch_create(owner=user)
    assert Batch.objects.count() == 3


def test_each_refused_file_says_why_and_takes_no_place(user: Any, settings: Any) -> None:
    """Empty, past MAX_UPLOAD_BYTES (a file of exactly that size is taken), or past the batch's room."""
    photo = photo_bytes("coffee.png", size=(160, 120))
    settings.MAX_UPLOAD_BYTES = len(photo)
    settings.MAX_ITEMS_PER_BATCH = 2
    batch = services.batch_create(owner=user)
    files = [
        SimpleUploadedFile("empty.jpg", b""),
        SimpleUploadedFile("large.jpg", photo + b"\0"),
        SimpleUploadedFile("fits.jpg", photo),
        upload("second.jpg"),
        upload("third.jpg"),
    ]
    items, rejected = services.batch_add_files(batch=batch, files=files)
    assert [item.filename for item in items] == ["fits.jpg", "second.jpg"]
    refusals = {refusal.filename: refusal.error for refusal in rejected}
    assert refusals["empty.jpg"] == "the file is empty"
    assert refusals["large.jpg"].startswith("the file is 0.0 MB; the limit is ")
    assert refusals["third.jpg"] == "the batch is full (2 files at most); start a new batch"
    assert len(refusals) == 3


def stored_files(user: Any) -> set[str]:
    """Every file under the user's folder in storage."""
    folder = Path(default_storage.path(f"users/{user.pk}"))
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def background() -> SimpleUploadedFile:
    return SimpleUploadedFile("bg.png", photo_bytes("coffee.png", size=(64, 48)))


@pytest.mark.parametrize("refusal", ["quota", "queue", "nothing accepted"])
def test_a_refused_request_keeps_no_background(user: Any, settings: Any, refusal: str) -> None:
    """A request that brought a background (bg_image, bg_image_file) and was refused left that file in storage
    until the daily orphan sweep: its batch was rolled back, the file it named was not deleted."""
    settings.DAILY_IMAGE_QUOTA = 1 if refusal == "quota" else 0
    settings.MAX_QUEUED_ITEMS_PER_USER = 1 if refusal == "queue" else 0
    services.batch_submit(owner=user, files=[upload("a.jpg")], options=Options())
    kept = stored_files(user)
    files = [SimpleUploadedFile("empty.jpg", b"")] if refusal == "nothing accepted" else [upload("b.jpg")]
    with pytest.raises((TooManyRequests, batches.NothingAccepted)):
        services.batch_submit(owner=user, files=files, options=Options(), background=background())
    assert stored_files(user) == kept and Batch.objects.count() == 1


def test_a_rerun_refused_part_way_keeps_nothing_of_its_earlier_chunks(
    user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun queues its images a chunk at a time: refused at a later chunk (here the daily quota, held as each
    chunk is counted), the sources its earlier chunks copied and its background stayed in storage."""
    monkeypatch.setattr(batches, "RERUN_CHUNK", 1)
    settings.DAILY_IMAGE_QUOTA = 3
    batch, _, _ = services.batch_submit(owner=user, files=[upload("a.jpg"), upload("b.jpg")], options=Options())
    kept = stored_files(user)
    with pytest.raises(QuotaExceeded):
        services.batch_rerun(batch=batch, options=Options(format="webp"), background=background())
    assert stored_files(user) == kept and Batch.objects.count() == 1 and Item.objects.count() == 2
