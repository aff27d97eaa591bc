"""removal.ops.limits through the API: rate limits, the daily quota and a full queue."""

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone
from PIL import Image

from accounts.services import api_key_create
from removal.cutout import cores
from removal.errors import QuotaExceeded, TooManyRequests
from removal.models import Batch, Item, StoredImage
from removal.ops import limits
from tests.conftest import REPO, error_text, make_item, photo_bytes, python

pytestmark = pytest.mark.django_db


def jpeg(name: str = "a.jpg") -> Any:
    return SimpleUploadedFile(name, photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")


def test_rate_limit_per_key_then_per_user(client: Client, user: Any, settings: Any) -> None:
    settings.RATE_LIMIT_PER_KEY = "2/h"
    settings.RATE_LIMIT_PER_USER = "3/h"
    first_key = api_key_create(user=user, name="one")[1]
    second_key = api_key_create(user=user, name="two")[1]

    ok = client.get("/api/v1/batches", headers={"X-Api-Key": first_key})
    assert ok.status_code == 200
    assert ok["RateLimit-Limit"] == "2" and ok["RateLimit-Remaining"] == "1"
    assert 0 < int(ok["RateLimit-Reset"]) <= 3600
    assert client.get("/api/v1/batches", headers={"X-Api-Key": first_key}).status_code == 200

    refused = client.get("/api/v1/batches", headers={"X-Api-Key": first_key})
    assert refused.status_code == 429
    assert refused.json()["status"] == 429
    assert "rate limit of 2/h per API key exceeded" in refused.json()["error"]
    assert refused["RateLimit-Remaining"] == "0"
    assert 0 < int(refused["Retry-After"]) <= 3600

    # Another key of the same user has its own allowance, but the user's is shared
    # (refused requests do not count): 2 used, 1 left.
    assert client.get("/api/v1/batches", headers={"X-Api-Key": second_key}).status_code == 200
    refused = client.get("/api/v1/batches", headers={"X-Api-Key": second_key})
    assert refused.status_code == 429
    assert "rate limit of 3/h per API user exceeded" in refused.json()["error"]


def test_daily_quota_counts_images(client: Client, user: Any, api_key: str, settings: Any) -> None:
    settings.DAILY_IMAGE_QUOTA = 3
    headers = {"X-Api-Key": api_key}
    created = client.post("/api/v1/batches", {"files": [jpeg(), jpeg()]}, headers=headers)
    assert created.status_code == 201, created.content
    too_many = client.post(
        f"/api/v1/batches/{created.json()['id']}/files", {"files": [jpeg(), jpeg()]}, headers=headers
    )
    assert too_many.status_code == 429
    assert "daily quota of 3 credits reached (1 left today, 2 asked;" in too_many.json()["error"]
    assert 0 < int(too_many["Retry-After"]) <= 86400  # the seconds to 00:00 UTC
    one_more = client.post(f"/api/v1/batches/{created.json()['id']}/files", {"files": [jpeg()]}, headers=headers)
    assert one_more.status_code == 201


def test_a_quota_of_one_credit_is_a_quota(client: Client, api_key: str, settings: Any) -> None:
    """DAILY_IMAGE_QUOTA 0 (the default) means no quota; any number above it, 1 included, is one."""
    settings.DAILY_IMAGE_QUOTA = 1
    headers = {"X-Api-Key": api_key}
    assert client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers).status_code == 201
    refused = client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers)
    assert refused.status_code == 429
    assert "daily quota of 1 credits reached (0 left today, 1 asked;" in refused.json()["error"]
    assert 0 < int(refused["Retry-After"]) <= 86400


def test_a_preview_costs_a_quarter_of_a_credit_when_it_is_asked_for(
    client: Client, user: Any, api_key: str, settings: Any
) -> None:
    """size=preview costs PREVIEW_CREDITS in the check made before anything is stored, as in the count after it:
    with a quarter of a credit left, a preview is taken and a full-size image refused."""
    settings.DAILY_IMAGE_QUOTA = 1.5
    headers = {"X-Api-Key": api_key}
    assert client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers).status_code == 201
    preview = client.post("/api/v1/batches", {"files": [jpeg()], "size": "preview"}, headers=headers)
    assert preview.status_code == 201, preview.content
    full = client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers)
    assert full.status_code == 429
    assert "(0.25 left today, 1 asked;" in full.json()["error"]
    last = client.post("/api/v1/batches", {"files": [jpeg()], "size": "preview"}, headers=headers)
    assert last.status_code == 201, last.content
    assert limits.credits_left_today(user) == 0


def test_size_auto_is_whole_images_while_the_credits_pay_for_them_all_else_previews(
    client: Client, user: Any, api_key: str, settings: Any
) -> None:
    """remove.bg's size=auto, decided once for a request's images (limits.auto_size): whole images while the credits
    left today pay for every one, else previews if those are paid for, else the quota's refusal."""
    settings.DAILY_IMAGE_QUOTA = 2
    headers = {"X-Api-Key": api_key}

    def sent(count: int) -> Any:
        return client.post(
            "/api/v1/batches", {"files": [jpeg() for _ in range(count)], "size": "auto"}, headers=headers
        )

    three = sent(3)  # 2 left: three whole images are not paid for, three previews are
    assert three.status_code == 201, three.content
    assert Batch.objects.get(id=three.json()["id"]).options["size_preview"] is True
    assert limits.credits_left_today(user) == 1.25
    one = sent(1)
    assert Batch.objects.get(id=one.json()["id"]).options["size_preview"] is False
    refused = sent(2)  # 0.25 left: not even two previews
    assert refused.status_code == 429 and "(0.25 left today, 0.5 asked;" in refused.json()["error"]
    # size=auto sent again with files for the batch of previews stands for its previews, not a changed size.
    added = client.post(
        f"/api/v1/batches/{three.json()['id']}/files", {"files": [jpeg()], "size": "auto"}, headers=headers
    )
    assert added.status_code == 201, added.content
    assert limits.credits_left_today(user) == 0


@pytest.mark.parametrize(
    ("path", "image_field", "status"),
    [("/v1.0/removebg", "image_file", 402), ("/bgremove", "file", 429), ("/api/v1/batches", "files", 429)],
)
def test_size_auto_without_a_quarter_credit_left_is_refused_at_every_front_door(
    api: Client, settings: Any, path: str, image_field: str, status: int
) -> None:
    """Each door asks for the cheapest `auto` can be, a preview, and refuses it in its own shape."""
    settings.DAILY_IMAGE_QUOTA = 1.1
    assert api.post("/api/v1/batches", {"files": [jpeg()]}).status_code == 201
    reply = api.post(path, {image_field: jpeg(), "size": "auto"})
    assert reply.status_code == status, reply.content
    body = reply.json()
    if path == "/v1.0/removebg":  # remove.bg's shape: its code, the message as the title
        assert body["errors"][0]["code"] == "insufficient_credits"
    message = error_text(path, reply)
    assert "(0.1 left today, 0.25 asked;" in message
    assert Item.objects.count() == 1


def test_credits_used_count_a_preview_as_a_quarter(user: Any, settings: Any) -> None:
    from removal import services
    from removal.cutout.options import Options

    settings.DAILY_IMAGE_QUOTA = 2
    services.batch_submit(owner=user, files=[jpeg()], options=Options())
    services.batch_submit(owner=user, files=[jpeg("b.jpg"), jpeg("c.jpg")], options=Options(size_preview=True))
    assert limits.credits_used(3, 2) == 1.5
    assert limits.credits_left_today(user) == 0.5


def test_requests_checked_side_by_side_are_counted_only_within_the_quota(user: Any, settings: Any) -> None:
    """Two requests that each passed the early check with one credit left: the first counted takes it, the other is
    refused and keeps nothing (8 parallel calls once took an account to 55 of 50 credits)."""
    from django.core.files.storage import default_storage

    from removal import services
    from removal.cutout.options import Options
    from removal.models import DailyUsage
    from removal.ops.worker import run_ready_jobs

    settings.DAILY_IMAGE_QUOTA = 1.25
    for _ in range(2):
        limits.check_daily_quota(user, credits=1)  # both pass: nothing is counted yet
    services.batch_submit(owner=user, files=[jpeg()], options=Options())
    run_ready_jobs()  # made: the refused request below repeats it, and its reuse copies files and thumbnails

    def stored() -> list[Path]:
        return sorted(path for path in Path(default_storage.path(f"users/{user.pk}")).rglob("*") if path.is_file())

    stored_before = stored()
    with pytest.raises(QuotaExceeded, match=r"\(0.25 left today, 1 asked;"):
        services.batch_submit(owner=user, files=[jpeg("b.jpg")], options=Options())
    assert Batch.objects.filter(owner=user).count() == 1 and stored() == stored_before and stored_before
    services.batch_submit(owner=user, files=[jpeg("c.jpg")], options=Options(size_preview=True))  # a quarter fits
    assert DailyUsage.objects.values_list("images", "previews").get() == (2, 1)


def test_deleting_images_gives_no_credits_back(client: Client, api_key: str, settings: Any) -> None:
    settings.DAILY_IMAGE_QUOTA = 2
    headers = {"X-Api-Key": api_key}
    batch = client.post("/api/v1/batches", {"files": [jpeg(), jpeg()]}, headers=headers).json()
    assert client.delete(f"/api/v1/batches/{batch['id']}", headers=headers).status_code == 204
    again = client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers)
    assert again.status_code == 429 and "daily quota of 2 credits reached (0 left today" in again.json()["error"]


def test_one_account_cannot_fill_the_queue(client: Client, api_key: str, other_user: Any, settings: Any) -> None:
    settings.MAX_QUEUED_ITEMS_PER_USER = 2
    headers = {"X-Api-Key": api_key}
    assert client.post("/api/v1/batches", {"files": [jpeg(), jpeg()]}, headers=headers).status_code == 201
    mine = client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers)
    assert mine.status_code == 429 and mine["Retry-After"] == "5"
    assert mine.json()["error"] == (
        "you have 2 images waiting, the most one account may have at once (2); more are taken as these are done"
    )
    _, other_key = api_key_create(user=other_user, name="other")
    theirs = client.post("/api/v1/batches", {"files": [jpeg()]}, headers={"X-Api-Key": other_key})
    assert theirs.status_code == 201


def test_requests_checked_side_by_side_are_queued_only_within_the_accounts_part(user: Any, settings: Any) -> None:
    """Requests that each passed the early check of the account's part of the queue: the first queued fills it, the
    others are refused and keep nothing. Checked only as each began, 8 uploads of 10 images at once from one account
    were all queued past MAX_QUEUED_ITEMS_PER_USER 20 (80 waiting), and a client with more connections queued more."""
    from removal import services
    from removal.cutout.options import Options

    settings.MAX_QUEUED_ITEMS_PER_USER = 2
    for _ in range(2):
        limits.check_queue_room(user)  # both pass: nothing is queued yet
    services.batch_submit(owner=user, files=[jpeg("a.jpg"), jpeg("b.jpg")], options=Options())
    with pytest.raises(TooManyRequests, match=r"^you have 2 images waiting, the most one account may have at once"):
        services.batch_submit(owner=user, files=[jpeg("c.jpg")], options=Options())
    assert Batch.objects.filter(owner=user).count() == 1 and Item.objects.count() == 2


def test_a_rerun_is_one_request_for_the_accounts_part_of_the_queue(user: Any, settings: Any, monkeypatch: Any) -> None:
    """A rerun queues its images a chunk at a time: admitted with room left, it is not refused at a later chunk for
    the images its own earlier chunks queued (that left those chunks' files behind, and a count that held them)."""
    from removal import services
    from removal.cutout.options import Options
    from removal.services import batches

    monkeypatch.setattr(batches, "RERUN_CHUNK", 2)
    settings.MAX_QUEUED_ITEMS_PER_USER = 4
    batch, _, _ = services.batch_submit(
        owner=user, files=[jpeg("a.jpg"), jpeg("b.jpg"), jpeg("c.jpg")], options=Options()
    )
    limits.check_queue_room(user)  # 3 waiting: room for a request
    rerun, items, _ = services.batch_rerun(batch=batch, options=Options(format="webp"))
    assert len(items) == 3 and rerun.items.count() == 3


def test_the_per_account_refusal_reads_as_docs_api_md_quotes_it(client: Client, api_key: str, user: Any) -> None:
    """At the default MAX_QUEUED_ITEMS_PER_USER the counts are grouped as English groups them (5,000); the page
    quoted 5000."""
    batch, now = Batch.objects.create(owner=user), timezone.now()
    Item.objects.bulk_create(
        Item(batch=batch, filename=f"{index}.jpg", source="unused", source_bytes=1, width=1, height=1, queued_at=now)
        for index in range(5000)
    )
    refused = client.post("/api/v1/batches", {"files": [jpeg()]}, headers={"X-Api-Key": api_key})
    assert refused.status_code == 429
    opening = refused.json()["error"].split("; ")[0]
    assert opening == "you have 5,000 images waiting, the most one account may have at once (5,000)"
    page = (REPO / "docs" / "api.md").read_text()
    assert page.count(f"`{opening}; ") == 1 and page.count(f'(`"{opening}; ') == 1


def test_full_queue_answers_503(client: Client, api_key: str, settings: Any) -> None:
    settings.MAX_QUEUED_ITEMS = 2
    headers = {"X-Api-Key": api_key}
    assert client.post("/api/v1/batches", {"files": [jpeg(), jpeg()]}, headers=headers).status_code == 201
    busy = client.post("/api/v1/batches", {"files": [jpeg()]}, headers=headers)
    assert busy.status_code == 503
    assert busy.json() == {
        "status": 503,
        "error": "the service is busy: too many images are waiting; try again shortly",
    }
    assert busy["Retry-After"] == "5"
    assert client.get("/api/v1/batches", headers=headers).status_code == 200  # reads still work


def test_uploads_from_several_accounts_at_once_are_queued_only_within_the_queue(database_env: dict[str, str]) -> None:
    """Three accounts upload an image each at once into a queue with room for two (tests/ops/queue_race.py): each
    passed the count of the whole queue as its request began, and all three were queued past MAX_QUEUED_ITEMS, on
    SQLite as on PostgreSQL (a server-wide queue overshot by a request per account uploading at that moment)."""
    done = python({**database_env, "MAX_QUEUED_ITEMS": "2"}, "-m", "tests.ops.queue_race")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    busy = "503 the service is busy: too many images are waiting; try again shortly"
    assert outcome == {"outcomes": [busy, "queued", "queued"], "queued": 2}


@pytest.mark.parametrize(
    ("path", "image_field"), [("/v1.0/removebg", "image_file"), ("/bgremove", "file"), ("/api/v1/batches", "files")]
)
def test_a_queue_filled_after_the_requests_first_count_refuses_it_in_each_apis_shape(
    api: Client, user: Any, other_user: Any, settings: Any, path: str, image_field: str
) -> None:
    """Another account's image queued between the request's first count of the whole queue and its own queuing, as
    uploads sent at once do (test_uploads_from_several_accounts_at_once_are_queued_only_within_the_queue): the request
    is refused as at a full queue, in its API's shape, and keeps nothing. It was queued past MAX_QUEUED_ITEMS."""
    settings.MAX_QUEUED_ITEMS = 1
    theirs, filled = Batch.objects.create(owner=other_user), False

    def queue_filled_after_the_first_count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal filled
        counted = execute(sql, params, many, context)
        if (
            not filled
            and sql.startswith("SELECT COUNT(")
            and 'FROM "removal_item" WHERE "removal_item"."status" = ' in sql
        ):
            filled = True
            make_item(theirs, status=Item.Status.QUEUED, filename="theirs.jpg")
        return counted

    with connection.execute_wrapper(queue_filled_after_the_first_count):
        busy = api.post(path, {image_field: jpeg()})
    assert (busy.status_code, busy["Retry-After"]) == (503, "5"), busy.content
    assert error_text(path, busy) == "the service is busy: too many images are waiting; try again shortly"
    if path == "/v1.0/removebg":
        assert busy.json()["errors"][0]["code"] == "service_unavailable"
    assert list(Item.objects.values_list("filename", flat=True)) == ["theirs.jpg"]
    assert not Batch.objects.filter(owner=user).exists()
    assert not [path for path in Path(default_storage.path(f"users/{user.pk}")).rglob("*") if path.is_file()]


def test_a_rerun_and_an_improvement_past_the_early_check_are_refused_at_a_queue_filled_meanwhile(
    user: Any, other_user: Any, settings: Any
) -> None:
    """Both hold the whole queue's room again as they queue (a rerun once, after its last chunk), and keep nothing."""
    from removal import services
    from removal.cutout.options import Options
    from removal.errors import ServiceUnavailable

    batch, _, _ = services.batch_submit(owner=user, files=[jpeg("a.jpg"), jpeg("b.jpg")], options=Options())
    Item.objects.filter(batch=batch).update(status=Item.Status.DONE, confidence=0.0)  # both need review
    settings.MAX_QUEUED_ITEMS = 1
    limits.check_queue_room(user)  # nothing waits yet
    services.batch_submit(owner=other_user, files=[jpeg("theirs.jpg")], options=Options())
    with pytest.raises(ServiceUnavailable, match="too many images are waiting"):
        services.batch_rerun(batch=batch, options=Options(format="webp"))
    with pytest.raises(ServiceUnavailable, match="too many images are waiting"):
        services.batch_improve(batch=batch)
    assert Batch.objects.filter(owner=user).count() == 1
    assert list(Item.objects.filter(batch=batch).values_list("status", flat=True)) == [Item.Status.DONE] * 2


def test_a_call_in_the_waiting_room_is_a_cutout_expected_until_it_leaves_and_the_moment_after(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MAX_WAITING_CUTOUTS = 2
    with limits.waiting_room("/bgremove"):
        assert cores.expected() == 1  # its own cutout: a lone call's model run still takes every core
        with limits.waiting_room("/v1.0/removebg"):
            assert cores.expected() == 2
    assert cores.expected() == 2  # their clients may send their next images in a moment
    monkeypatch.setattr(cores, "CROWDED_MEMORY_SECONDS", 0.0)
    assert cores.expected() == 0


def test_a_full_waiting_room_answers_503_at_once_and_frees_a_place_as_a_call_leaves(api: Any, settings: Any) -> None:
    settings.MAX_WAITING_CUTOUTS = 1
    for _ in range(2):  # a call that left gave back its one place
        with limits.waiting_room("/bgremove"):
            busy = api.post("/bgremove", {"file": jpeg()})
            assert busy.status_code == 503
            assert busy["Retry-After"] == "2"
            assert busy.json()["error"].startswith(
                "the service is busy: 1 calls are waiting for their cutout; retry in 2 s"
            )
    assert not Batch.objects.exists()  # refused before anything was taken


def test_rate_limits_switched_off_let_every_call_through(api: Any, settings: Any) -> None:
    settings.RATELIMIT_ENABLE = False  # RATE_LIMITS_ENABLED=false
    settings.RATE_LIMIT_PER_KEY = settings.RATE_LIMIT_PER_USER = "1/h"
    replies = [api.get("/api/v1/batches") for _ in range(3)]
    assert [reply.status_code for reply in replies] == [200, 200, 200]
    assert not replies[-1].has_header("RateLimit-Limit")


def test_large_fields_bodies_are_read_a_few_at_a_time(rf: RequestFactory, settings: Any) -> None:
    """A base64 image's JSON body holds about three copies of itself while it is read and decoded: past
    LARGE_FIELDS_BODIES_AT_ONCE such bodies, the next waits for a turn; small and multipart bodies never wait."""
    large = {"CONTENT_LENGTH": str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    at_the_limit = rf.post("/v1.0/removebg", data=b"{}", content_type="application/json")
    at_the_limit.META["CONTENT_LENGTH"] = str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    assert not limits.LargeBodyTurn(at_the_limit).needed  # Django reads that much into memory itself

    def turn(content_type: str = "application/json", **meta: str) -> limits.LargeBodyTurn:
        return limits.LargeBodyTurn(rf.post("/v1.0/removebg", data=b"{}", content_type=content_type, **meta))

    async def scenario() -> None:
        holders = [await turn(**large).taken() for _ in range(limits.LARGE_FIELDS_BODIES_AT_ONCE)]
        waiting = asyncio.ensure_future(turn(**large).taken())
        for passing in (turn(), turn("multipart/form-data; boundary=b", **large)):
            assert not (await asyncio.wait_for(passing.taken(), 5)).held
        await asyncio.sleep(0.2)
        assert not waiting.done()
        holders[0].release()
        holders[0].release()  # given back once, however often it is called
        third = await asyncio.wait_for(waiting, 5)
        assert third.held
        for held in (*holders[1:], third):
            held.release()

    asyncio.run(scenario())


def test_store_keeps_at_most_store_daily_mb_of_a_users_uploads_in_24_hours(api: Any, settings: Any) -> None:
    """/store costs no credits and keeps each image RETENTION_DAYS: one key stored about 1 GB in 4 s. Past
    STORE_DAILY_MB in the last 24 hours it answers 429; what came before that window counts no more."""
    noise = Image.frombytes("RGB", (700, 700), np.random.default_rng(7).integers(0, 256, 700 * 700 * 3, np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=95)
    photo = buffer.getvalue()
    assert 500_000 < len(photo) < 1_000_000  # one fits in 1 MB, two do not
    settings.STORE_DAILY_MB = 1

    def store() -> Any:
        return api.post("/store", {"file": SimpleUploadedFile("noise.jpg", photo, content_type="image/jpeg")})

    assert store().status_code == 200
    refused = store()
    assert refused.status_code == 429
    assert refused.json()["error"].startswith("/store keeps at most 1 MB of your uploads a day")
    assert 0 < int(refused["Retry-After"]) <= 24 * 3600
    StoredImage.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert store().status_code == 200


def test_store_room_counts_megabytes_up_to_the_limit_and_switches_off_at_zero(user: Any, settings: Any) -> None:
    settings.STORE_DAILY_MB = 1
    limits.check_store_room(user, size_bytes=1_000_000)  # exactly the limit fits
    with pytest.raises(QuotaExceeded):
        limits.check_store_room(user, size_bytes=1_000_001)
    settings.STORE_DAILY_MB = 0  # no limit
    limits.check_store_room(user, size_bytes=10**12)


def test_store_uploads_checked_side_by_side_are_kept_only_within_store_daily_mb(user: Any, settings: Any) -> None:
    """Uploads that each passed the early check of STORE_DAILY_MB: the first kept fills it, the other is refused and
    leaves no file. Checked only as each began, 8 uploads of 0.36 MB at once were all kept under STORE_DAILY_MB=1."""
    from django.core.files.storage import default_storage

    from removal import services

    noise = Image.frombytes("RGB", (500, 500), np.random.default_rng(3).integers(0, 256, 500 * 500 * 3, np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    photo = buffer.getvalue()
    assert 500_000 < len(photo) < 1_000_000  # one fits in 1 MB, two do not
    settings.STORE_DAILY_MB = 1
    for _ in range(2):
        limits.check_store_room(user, size_bytes=len(photo))  # both pass: nothing is kept yet
    services.stored_image_create(owner=user, upload=SimpleUploadedFile("a.png", photo, content_type="image/png"))
    with pytest.raises(QuotaExceeded, match=r"^/store keeps at most 1 MB of your uploads a day"):
        services.stored_image_create(owner=user, upload=SimpleUploadedFile("b.png", photo, content_type="image/png"))
    (kept,) = StoredImage.objects.all()
    _, files = default_storage.listdir(f"users/{user.pk}/store")
    assert files == [PurePosixPath(kept.file.name).name]


def test_a_closed_websocket_gives_back_its_one_place() -> None:
    user_id = 987_654_321  # no other test's user
    assert all(limits.websocket_opened(user_id) for _ in range(limits.WEBSOCKETS_PER_USER))
    assert not limits.websocket_opened(user_id)
    limits.websocket_closed(user_id)
    assert limits.websocket_opened(user_id)
    assert not limits.websocket_opened(user_id)
    for _ in range(limits.WEBSOCKETS_PER_USER):
        limits.websocket_closed(user_id)
    assert user_id not in limits._open_websockets  # a user with no socket open is forgotten
