"""The batch API through Django's test client; jobs run inline with run_ready_jobs."""

import hashlib
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.utils.crypto import get_random_string
from PIL import Image

from accounts.services import api_key_create, api_key_revoke
from removal import services
from removal.models import Batch, Item
from removal.ops.worker import run_ready_jobs
from removal.web.openapi import document
from tests.conftest import half_mask, photo_bytes, run_deferred_file_deletions

pytestmark = pytest.mark.django_db


def jpeg(name: str = "photo.jpg", photo: str = "astronaut.png", size: tuple[int, int] = (320, 240)) -> Any:
    return SimpleUploadedFile(name, photo_bytes(photo, size=size), content_type="image/jpeg")


def text_file(name: str = "notes.jpg") -> Any:
    return SimpleUploadedFile(name, b"not an image at all", content_type="image/jpeg")


def create_batch(api: Any, *files: Any) -> dict[str, Any]:
    reply = api.post("/api/v1/batches", {"files": list(files)})
    assert reply.status_code == 201, reply.content
    return reply.json()


def json_error(reply: Any, status: int) -> str:
    assert reply.status_code == status, reply.content
    assert reply["Content-Type"] == "application/json"
    body = reply.json()
    assert body["status"] == status
    assert body["error"]
    return body["error"]


async def sent_with(chunks: AsyncIterator[bytes], meanwhile: Callable[[], None]) -> bytes:
    """A streamed body, with `meanwhile` done once its first chunk is sent."""
    sent = [await anext(chunks)]
    await sync_to_async(meanwhile)()
    return b"".join(sent + [chunk async for chunk in chunks])


class TestCreateBatch:
    def test_accepts_images_and_explains_refused_files(self, api: Any) -> None:
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg", "coffee.png"), text_file("c.jpg"))
        assert batch["status"] == "processing"
        assert [item["filename"] for item in batch["items"]] == ["a.jpg", "b.jpg"]
        assert {item["status"] for item in batch["items"]} == {"queued"}
        assert batch["rejected"] == [
            {
                "filename": "c.jpg",
                "error": "not an image we can read; send JPEG, PNG, WebP, AVIF, HEIC, GIF, BMP or TIFF",
            }
        ]
        assert batch["ws"] == f"/ws/batches/{batch['id']}"
        assert batch["zip"] == f"/api/v1/batches/{batch['id']}/zip"
        assert batch["counts"] == {"queued": 2, "processing": 0, "done": 0, "failed": 0, "total": 2, "needs_review": 0}

    def test_each_item_tells_its_uploads_size(self, api: Any) -> None:
        """With its name, what tells a file sent already from another (the page leaves those out)."""
        files = [jpeg("a.jpg"), jpeg("b.jpg", "coffee.png")]
        batch = create_batch(api, *files)
        assert [item["original_bytes"] for item in batch["items"]] == [upload.size for upload in files]
        listed = api.get(f"/api/v1/batches/{batch['id']}").json()
        assert [item["original_bytes"] for item in listed["items"]] == [upload.size for upload in files]

    def test_each_file_is_one_durable_job(self, api: Any) -> None:
        from django_tasks_db.models import DBTaskResult

        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg"))
        jobs = DBTaskResult.objects.filter(task_path="removal.tasks.process_item", status="READY")
        assert sorted(job.args_kwargs["args"][0] for job in jobs) == sorted(item["id"] for item in batch["items"])

    def test_a_roi_that_holds_none_of_an_image_refuses_that_image_by_name(self, api: Any) -> None:
        """Each was clamped to nothing and came out wholly transparent, not even flagged."""
        files = [jpeg("wide.jpg", size=(320, 240)), jpeg("small.jpg", size=(100, 100))]
        reply = api.post("/api/v1/batches", {"files": files, "roi": "150px 0px 9999px 100%"})
        assert reply.status_code == 201, reply.content
        assert [item["filename"] for item in reply.json()["items"]] == ["wide.jpg"]  # partly outside: clamped
        error = "roi: the box 150px 0px 9999px 100% holds none of this 100x100 image; give one inside it"
        assert reply.json()["rejected"] == [{"filename": "small.jpg", "error": error}]
        refused = api.post("/api/v1/batches", {"files": [jpeg()], "roi": "0 0 0 0"})
        assert json_error(refused, 400).startswith("roi: the box '0px 0px 0px 0px' has no area")

    def test_a_bad_value_of_an_option_that_is_off_is_a_400_naming_it(self, api: Any) -> None:
        """shadow_opacity=abc without add_shadow was a 201: the client learnt of it only once it turned shadows on."""
        for name in ("shadow_opacity", "alpha_matting_erode_size"):
            reply = api.post("/api/v1/batches", {"files": [jpeg()], name: "abc"})
            assert json_error(reply, 400).startswith(f"{name}: must be a whole number")
        assert not Batch.objects.exists()

    def test_no_files_is_a_clear_400(self, api: Any) -> None:
        assert "no files" in json_error(api.post("/api/v1/batches", {}), 400)

    def test_only_refused_files_create_no_batch(self, api: Any) -> None:
        reply = api.post("/api/v1/batches", {"files": [text_file("x.png"), SimpleUploadedFile("empty.jpg", b"")]})
        assert "none of the 2 files" in json_error(reply, 400)
        assert [refusal["filename"] for refusal in reply.json()["rejected"]] == ["x.png", "empty.jpg"]
        assert reply.json()["rejected"][1]["error"] == "the file is empty"
        assert not Batch.objects.exists()

    def test_file_names_lose_their_directories(self, api: Any) -> None:
        batch = create_batch(api, jpeg("../../etc/passwd.jpg"), jpeg("C:\\Users\\me\\cat.jpg"))
        assert [item["filename"] for item in batch["items"]] == ["passwd.jpg", "cat.jpg"]
        for item in Item.objects.all():
            assert ".." not in item.source.name and "cat" not in item.source.name

    def test_options_in_the_query_string_apply_and_form_fields_win(self, api: Any) -> None:
        reply = api.post("/api/v1/batches?format=jpg&size=preview", {"files": [jpeg()], "format": "webp"})
        assert reply.status_code == 201, reply.content
        assert reply.json()["options"]["format"] == "webp" and reply.json()["options"]["size_preview"] is True

    def test_too_large_file_is_refused_and_others_accepted(self, api: Any, settings: Any) -> None:
        settings.MAX_UPLOAD_BYTES = 20_000
        big = jpeg("big.jpg", size=(1280, 960))
        batch = create_batch(api, big, jpeg("small.jpg", size=(64, 48)))
        assert [item["filename"] for item in batch["items"]] == ["small.jpg"]
        assert "the limit is 0.02 MB per file" in batch["rejected"][0]["error"]

    def test_too_many_pixels_is_refused(self, api: Any, settings: Any) -> None:
        settings.MAX_IMAGE_PIXELS = 100 * 100
        error = json_error(api.post("/api/v1/batches", {"files": [jpeg(size=(200, 100))]}), 400)
        assert "200x100" in error and "the limit is 0.01 megapixels" in error

    def test_too_many_files_in_one_request(self, api: Any, settings: Any) -> None:
        settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
        reply = api.post("/api/v1/batches", {"files": [jpeg("a.jpg"), jpeg("b.jpg"), jpeg("c.jpg")]})
        assert "too many files" in json_error(reply, 400)

    def test_a_creation_sent_again_with_its_idempotency_key_gets_the_batch_it_made(self, api: Any) -> None:
        """The page and clients send a request again when it got no answer; a creation whose reply was lost made a
        second batch, the first left behind with its cutouts and credits."""

        def create(key: str, *files: Any, **fields: Any) -> Any:
            return api.post("/api/v1/batches", {"files": list(files), **fields}, headers={"Idempotency-Key": key})

        first = create("3f2a-once", jpeg("a.jpg"), file_position=0)
        again = create("3f2a-once", jpeg("a.jpg"), file_position=0)
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert [item["id"] for item in again.json()["items"]] == [item["id"] for item in first.json()["items"]]
        assert Batch.objects.count() == 1 and Item.objects.count() == 1
        other = create('"another"', jpeg("a.jpg"), file_position=0)
        assert other.json()["id"] != first.json()["id"] and Batch.objects.count() == 2
        assert "format: files added to a batch take the options" in json_error(
            create("3f2a-once", jpeg("a.jpg"), file_position=0, format="jpg"), 400
        )
        assert "Idempotency-Key: 64 printable ASCII" in json_error(create("k" * 65, jpeg("b.jpg")), 400)
        assert "Idempotency-Key" in json_error(create("two words", jpeg("b.jpg")), 400)
        assert Batch.objects.count() == 2


class TestAuthentication:
    def test_anonymous_gets_401_json(self, client: Client, db: Any) -> None:
        assert "authentication required" in json_error(client.get("/api/v1/batches"), 401)

    @pytest.mark.parametrize("how", ["bearer", "x-api-key", "query", "form"])
    def test_key_in_header_or_parameter(self, client: Client, api_key: str, how: str) -> None:
        headers = {"bearer": {"Authorization": f"Bearer {api_key}"}, "x-api-key": {"X-Api-Key": api_key}}
        if how == "query":
            reply = client.get(f"/api/v1/batches?key={api_key}")
        elif how == "form":
            reply = client.post("/api/v1/batches", {"key": api_key, "files": [jpeg()]})
        else:
            reply = client.get("/api/v1/batches", headers=headers[how])
        assert reply.status_code in (200, 201), reply.content

    @pytest.mark.parametrize(
        ("sent", "places"),
        [
            ({"headers": {"Authorization": "Bearer {key}", "X-Api-Key": "{other}"}}, "Authorization, X-Api-Key"),
            ({"headers": {"X-Api-Key": "{key}"}, "query": "key={other}"}, "X-Api-Key, ?key="),
            ({"headers": {"X-Api-Key": "{key}, {other}"}}, "X-Api-Key"),  # the header sent twice, as Django joins it
            ({"query": "key={key}&key={other}"}, "?key="),
            ({"headers": {"WWW-Authenticate": "{other}"}, "query": "key={key}"}, "WWW-Authenticate, ?key="),
        ],
    )
    def test_two_different_keys_are_refused_not_one_taken(
        self, client: Client, api_key: str, other_user: Any, sent: dict[str, Any], places: str
    ) -> None:
        # One was taken without a word (a header over ?key=, Authorization over X-Api-Key), and the call made as
        # whoever it named: here the other user, whose batches were listed.
        other = api_key_create(user=other_user, name="other")[1]
        headers = {name: value.format(key=api_key, other=other) for name, value in sent.get("headers", {}).items()}
        query = sent.get("query", "").format(key=api_key, other=other)
        reply = client.get(f"/api/v1/batches?{query}", headers=headers)
        assert json_error(reply, 401) == f"2 different API keys were sent ({places}); send one"

    def test_the_same_key_in_two_places_is_that_key(self, client: Client, api_key: str) -> None:
        assert client.get(f"/api/v1/batches?key={api_key}", headers={"X-Api-Key": api_key}).status_code == 200
        assert client.get("/api/v1/batches", headers={"X-Api-Key": f"{api_key}, {api_key}"}).status_code == 200

    def test_wrong_key(self, client: Client, api_key: str) -> None:
        reply = client.get("/api/v1/batches", headers={"X-Api-Key": api_key[:-2] + "xx"})
        assert json_error(reply, 401) == "invalid API key"
        assert json_error(client.get("/api/v1/batches", headers={"X-Api-Key": "nonsense"}), 401) == "invalid API key"

    def test_revoked_key_is_refused_at_once(self, client: Client, user: Any) -> None:
        key, plain = api_key_create(user=user, name="soon gone")
        assert client.get("/api/v1/batches", headers={"X-Api-Key": plain}).status_code == 200
        assert api_key_revoke(user=user, key_id=key.pk)
        assert "revoked" in json_error(client.get("/api/v1/batches", headers={"X-Api-Key": plain}), 401)

    def test_session_writes_need_the_csrf_token(self, user: Any) -> None:
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        assert browser.get("/api/v1/batches").status_code == 200
        assert "CSRF" in json_error(browser.post("/api/v1/batches", {"files": [jpeg()]}), 403)
        token = get_random_string(32)
        browser.cookies["csrftoken"] = token
        reply = browser.post("/api/v1/batches", {"files": [jpeg()]}, headers={"X-CSRFToken": token})
        assert reply.status_code == 201

    def test_a_page_whose_user_logged_out_elsewhere_is_told_so_not_asked_for_a_key(self, user: Any) -> None:
        browser = Client()
        browser.force_login(user)
        page = {"X-Page-User": str(user.pk)}
        assert browser.get("/api/v1/batches", headers=page).status_code == 200
        browser.logout()  # in another tab of the same browser
        refused = json_error(browser.get("/api/v1/batches", headers=page), 401)
        assert refused == "you are logged out; log in again to go on"
        assert "API key" in json_error(browser.get("/api/v1/batches"), 401)  # a program without a key

    def test_a_page_shown_to_one_user_acts_as_no_other_who_logged_in_since(self, user: Any, other_user: Any) -> None:
        browser = Client()
        browser.force_login(user)
        page = {"X-Page-User": str(user.pk)}
        browser.force_login(other_user)  # in another tab: the cookie now names someone else
        reply = browser.post("/api/v1/batches", {"files": [jpeg()]}, headers=page)
        assert "another user has logged in" in json_error(reply, 401)
        assert not Batch.objects.exists()
        assert browser.get("/api/v1/batches", headers={"X-Page-User": str(other_user.pk)}).status_code == 200

    def test_wrong_method(self, api: Any) -> None:
        reply = api.delete("/api/v1/batches")
        assert "DELETE is not allowed" in json_error(reply, 405)
        assert reply["Allow"] == "GET, POST, HEAD"


class TestFollowAndDownload:
    def test_whole_flow(self, api: Any) -> None:
        batch = create_batch(api, jpeg("one.jpg"), jpeg("two.jpg", "coffee.png"))
        assert api.get(batch["zip"]).status_code == 404  # nothing done yet

        assert run_ready_jobs() == 2
        state = api.get(f"/api/v1/batches/{batch['id']}").json()
        assert state["status"] == "done"
        assert state["counts"]["done"] == 2
        for item in state["items"]:
            assert item["status"] == "done" and item["error"] is None
            assert item["processing_ms"] > 0
            result = api.get(item["result"])
            assert result["Content-Type"] == "image/png"
            with Image.open(io.BytesIO(b"".join(result))) as cutout:
                assert cutout.mode == "RGBA" and cutout.size == (320, 240)
            original = api.get(item["original"])
            assert original["Content-Type"] == "image/jpeg"

        download = api.get(state["items"][0]["result"] + "?download=1")
        assert download["Content-Disposition"] == 'attachment; filename="one.png"'
        # a word it does not know was read as no: the file came inline, its name lost for a download
        assert json_error(api.get(state["items"][0]["result"] + "?download=2"), 400) == (
            "download: must be true or false, not '2'"
        )

        reply = api.get(batch["zip"])
        assert reply["Content-Type"] == "application/zip"
        assert (
            reply["Content-Disposition"]
            == f'attachment; filename="cutouts-{batch["created_at"][:10]}-{batch["id"][:8]}.zip"'
        )
        assert reply.streaming
        body = b"".join(reply)
        assert int(reply["Content-Length"]) == len(body)
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert archive.namelist() == ["one.png", "two.png", "manifest.json"]
            for name in ["one.png", "two.png"]:
                alpha = np.asarray(Image.open(archive.open(name)).getchannel("A"))
                assert (alpha == 0).any() and (alpha > 200).any()

        # HEAD, as download managers ask first: the GET's headers, and nothing read or built to send.
        for url in (batch["zip"], state["items"][0]["result"]):
            head, got = api.head(url), api.get(url)
            assert head.status_code == 200 and not head.streaming and head.content == b""
            assert {name: head[name] for name in ("Content-Type", "Content-Length")} == {
                name: got[name] for name in ("Content-Type", "Content-Length")
            }

    def test_an_undecodable_file_fails_alone(self, api: Any) -> None:
        whole = photo_bytes("astronaut.png", size=(320, 240))
        truncated = SimpleUploadedFile("cut.jpg", whole[: len(whole) // 3])
        batch = create_batch(api, truncated, jpeg("fine.jpg"))
        run_ready_jobs()
        items = {item["filename"]: item for item in api.get(f"/api/v1/batches/{batch['id']}").json()["items"]}
        assert items["cut.jpg"]["status"] == "failed"
        assert "truncated or corrupt" in items["cut.jpg"]["error"]
        assert items["cut.jpg"]["result"] is None
        assert items["fine.jpg"]["status"] == "done"
        assert "has no result (it is failed)" in json_error(
            api.get(f"/api/v1/items/{items['cut.jpg']['id']}/result"), 404
        )
        with zipfile.ZipFile(io.BytesIO(b"".join(api.get(batch["zip"])))) as archive:
            assert archive.namelist() == ["fine.png", "manifest.json"]

    def test_zip_manifest_hashes_match_its_members(self, api: Any, settings: Any) -> None:
        whole = photo_bytes("astronaut.png", size=(320, 240))
        truncated = SimpleUploadedFile("cut.jpg", whole[: len(whole) // 3])
        batch = create_batch(api, jpeg("a.jpg"), jpeg("a.png", "coffee.png"), truncated)
        run_ready_jobs()
        with zipfile.ZipFile(io.BytesIO(b"".join(api.get(batch["zip"])))) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            members = {name: archive.read(name) for name in archive.namelist() if name != "manifest.json"}
        entries = {entry["original_name"]: entry for entry in manifest["items"]}
        assert manifest["batch"] == batch["id"] and set(entries) == {"a.jpg", "a.png", "cut.jpg"}
        assert {entries[name]["output_name"] for name in ("a.jpg", "a.png")} == set(members) == {"a.png", "a-2.png"}
        for name in ("a.jpg", "a.png"):
            entry, member = entries[name], members[entries[name]["output_name"]]
            assert entry["status"] == "done" and entry["error"] is None
            assert entry["sha256"] == hashlib.sha256(member).hexdigest() and entry["bytes"] == len(member)
            assert (entry["width"], entry["height"]) == (320, 240)
            assert entry["model"] == settings.REMBG_MODEL and entry["options"] == manifest["options"]
        failed = entries["cut.jpg"]
        assert failed["status"] == "failed" and "truncated or corrupt" in failed["error"]
        assert failed["output_name"] is None and failed["sha256"] is None
        assert api.get(batch["manifest"]).json() == manifest

    def test_zip_names_are_safe_and_unique(self, api: Any) -> None:
        names = ["photo.jpg", "photo.JPG", "Photo.png", "../../x.jpg", "???.jpg", "a b.c.jpg", "фото.jpg"]
        batch = create_batch(api, *(jpeg(name, size=(64, 48)) for name in names))
        run_ready_jobs()
        with zipfile.ZipFile(io.BytesIO(b"".join(api.get(batch["zip"])))) as archive:
            members = archive.namelist()
        assert members == [
            *("photo.png", "photo-2.png", "Photo-3.png", "x.png", "image.png", "a_b_c.png", "фото.png"),
            "manifest.json",
        ]

    def test_add_files_to_a_batch(self, api: Any) -> None:
        batch = create_batch(api, jpeg("first.jpg"))
        reply = api.post(f"/api/v1/batches/{batch['id']}/files", {"files": [jpeg("second.jpg"), text_file()]})
        assert reply.status_code == 201
        assert [item["filename"] for item in reply.json()["items"]] == ["second.jpg"]
        assert reply.json()["rejected"][0]["filename"] == "notes.jpg"
        only_bad = api.post(f"/api/v1/batches/{batch['id']}/files", {"files": [text_file("bad.png")]})
        assert json_error(only_bad, 400).startswith("bad.png: not an image")
        assert api.get(f"/api/v1/batches/{batch['id']}").json()["counts"]["total"] == 2

    def test_added_files_may_repeat_the_batchs_options_but_not_change_them(self, api: Any) -> None:
        """A client that sends its options with every request is fine; another value was silently ignored."""
        reply = api.post("/api/v1/batches", {"files": [jpeg("first.jpg")], "format": "jpg", "size": "preview"})
        batch = reply.json()
        same = {"files": [jpeg("second.jpg")], "format": "jpeg", "size": "preview", "crop": ""}
        assert api.post(f"/api/v1/batches/{batch['id']}/files", same).status_code == 201
        changed = {"files": [jpeg("third.jpg")], "format": "jpg", "size": "full", "crop": "true"}
        error = json_error(api.post(f"/api/v1/batches/{batch['id']}/files", changed), 400)
        assert error.startswith("crop, size: files added to a batch take the options it was created with")
        assert api.get(f"/api/v1/batches/{batch['id']}").json()["counts"]["total"] == 2

    def test_a_batch_is_listed_zipped_and_rerun_in_the_order_its_sender_placed_the_files(self, api: Any) -> None:
        """Two requests in flight arrive in either order (the page uploads two at a time): `position` keeps the
        sender's. Files sent without one follow, as they arrived."""
        first = {"files": [jpeg("c.jpg"), jpeg("d.jpg", "coffee.png")], "file_position": "2"}
        batch_id = api.post("/api/v1/batches", first).json()["id"]
        files = f"/api/v1/batches/{batch_id}/files"
        for later in (
            {"files": [jpeg("unplaced.jpg", "chelsea.png")]},
            {"files": [jpeg("a.jpg", "rocket.jpg")], "file_position": "0"},
            {"files": [jpeg("b.jpg", "chelsea.png", (300, 200))], "file_position": "1"},
        ):
            assert api.post(files, later).status_code == 201
        in_order = ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "unplaced.jpg"]

        assert [item["filename"] for item in api.get(f"/api/v1/batches/{batch_id}").json()["items"]] == in_order
        run_ready_jobs()
        with zipfile.ZipFile(io.BytesIO(b"".join(api.get(f"/api/v1/batches/{batch_id}/zip")))) as archive:
            assert [name.removesuffix(".png") + ".jpg" for name in archive.namelist()[:-1]] == in_order
        rerun = api.post(f"/api/v1/batches/{batch_id}/rerun", {"format": "png"})
        assert [item["filename"] for item in rerun.json()["items"]] == in_order
        rerun_id = rerun.json()["id"]
        assert [item["filename"] for item in api.get(f"/api/v1/batches/{rerun_id}").json()["items"]] == in_order

    @pytest.mark.parametrize("position", ["-1", "first", "1.5", "1000000001"])
    def test_a_position_that_is_not_a_place_is_a_400(self, api: Any, position: str) -> None:
        reply = api.post("/api/v1/batches", {"files": [jpeg()], "file_position": position})
        assert json_error(reply, 400).startswith("file_position: must be a whole number from 0 to 1000000000")
        assert Batch.objects.count() == 0

    def test_batch_size_limit(self, api: Any, settings: Any) -> None:
        settings.MAX_ITEMS_PER_BATCH = 2
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg"), jpeg("c.jpg"))
        assert len(batch["items"]) == 2
        assert "the batch is full (2 files at most)" in batch["rejected"][0]["error"]
        more = api.post(f"/api/v1/batches/{batch['id']}/files", {"files": [jpeg("d.jpg")]})
        assert "the batch is full" in json_error(more, 400)

    def test_list_is_newest_first_and_paginated(self, api: Any, settings: Any) -> None:
        settings.BATCHES_PER_PAGE = 2
        ids = [create_batch(api, jpeg())["id"] for _ in range(3)]
        first = api.get("/api/v1/batches").json()
        assert [batch["id"] for batch in first["batches"]] == ids[::-1][:2]
        assert (first["page"], first["pages"], first["count"]) == (1, 2, 3)
        assert first["next"] == "?page=2" and first["previous"] is None
        second = api.get("/api/v1/batches" + first["next"]).json()
        assert [batch["id"] for batch in second["batches"]] == [ids[0]]
        assert second["batches"][0]["counts"]["queued"] == 1

    @pytest.mark.parametrize(("asked", "given"), [("0", 1), ("-1", 1), (" 0 ", 1), ("abc", 1), ("2", 2), ("99", 2)])
    def test_a_page_below_1_is_the_first_as_one_not_a_number_past_the_end_the_last(
        self, api: Any, settings: Any, asked: str, given: int
    ) -> None:
        # Below 1 was the last page, as past the end: a client counting its pages from 0 got the last for the first.
        settings.BATCHES_PER_PAGE = 1
        for _ in range(2):
            create_batch(api, jpeg())
        assert api.get("/api/v1/batches", {"page": asked}).json()["page"] == given

    def test_list_finds_batches_by_name(self, api: Any, settings: Any) -> None:
        settings.BATCHES_PER_PAGE = 1
        for name in ("Red shoes", "Hats", "red & blue"):
            api.post("/api/v1/batches", {"files": [jpeg(size=(64, 48))], "name": name})
        first = api.get("/api/v1/batches", {"name": "RED"}).json()
        assert [batch["name"] for batch in first["batches"]] == ["red & blue"] and first["count"] == 2
        assert first["next"] == "?page=2&name=RED"
        second = api.get("/api/v1/batches" + first["next"]).json()
        assert [batch["name"] for batch in second["batches"]] == ["Red shoes"] and second[
            "previous"
        ] == "?page=1&name=RED"
        assert api.get("/api/v1/batches", {"name": "a & b"}).json()["count"] == 0

    def test_a_name_searched_for_with_a_nul_is_a_400_naming_it(self, api: Any) -> None:
        # PostgreSQL refuses a NUL even in a query's LIKE pattern: the search was a 500 there.
        reply = api.get("/api/v1/batches", {"name": "red\x00"})
        assert reply.status_code == 400 and "'name'" in reply.json()["error"] and "NUL" in reply.json()["error"]


class TestRerun:
    """`POST /api/v1/batches/<id>/rerun` takes its options as the other endpoints do: form fields or JSON."""

    def test_options_in_a_json_body(self, api: Any) -> None:
        batch = create_batch(api, jpeg("a.jpg"))
        options = {"format": "jpg", "size": "preview"}
        rerun = api.post(f"/api/v1/batches/{batch['id']}/rerun", options, "application/json")
        assert rerun.status_code == 201, rerun.content
        assert rerun.json()["options"]["format"] == "jpg" and rerun.json()["options"]["size_preview"] is True

    def test_a_rerun_takes_a_callback_url_as_its_schema_says(self, api: Any) -> None:
        """docs/api.md: a rerun takes `callback_url` as a creation does; the schema left it out of the rerun, and
        offered it for added files, which keep their batch's."""
        batch = create_batch(api, jpeg("a.jpg"))
        body = {"format": "webp", "callback_url": "https://hooks.example.com/done"}
        rerun = api.post(f"/api/v1/batches/{batch['id']}/rerun", body, "application/json")
        assert Batch.objects.get(id=rerun.json()["id"]).callback_url == "https://hooks.example.com/done"
        paths = document()["paths"]
        fields = {
            name: set(paths[path]["post"]["requestBody"]["content"][media]["schema"]["properties"])
            for name, path, media in [
                ("create", "/api/v1/batches", "multipart/form-data"),
                ("rerun", "/api/v1/batches/{batch_id}/rerun", "application/json"),
                ("rerun form", "/api/v1/batches/{batch_id}/rerun", "multipart/form-data"),
                ("add", "/api/v1/batches/{batch_id}/files", "multipart/form-data"),
            ]
        }
        assert {name for name, names in fields.items() if "callback_url" in names} == {"create", "rerun", "rerun form"}

    @pytest.mark.parametrize(
        ("body", "error"),
        [("{", "not valid JSON"), ('{"format": "tiff"}', "format:"), ('["jpg"]', "must be an object")],
    )
    def test_a_json_body_it_cannot_use_is_a_400(self, api: Any, body: str, error: str) -> None:
        batch = create_batch(api, jpeg("a.jpg"))
        reply = api.post(f"/api/v1/batches/{batch['id']}/rerun", body, "application/json")
        assert error in json_error(reply, 400)
        assert Batch.objects.count() == 1


class TestDelete:
    """`DELETE /api/v1/batches/<id>`: the batch, its items and its files go now."""

    def test_a_deleted_batch_is_gone_from_every_endpoint(self, api: Any) -> None:
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg"))
        run_ready_jobs()
        kept = create_batch(api, jpeg("c.jpg", "coffee.png"))
        url, item_id = f"/api/v1/batches/{batch['id']}", batch["items"][0]["id"]

        reply = api.delete(url)
        assert reply.status_code == 204 and reply.content == b""

        for gone in (url, f"{url}/zip", f"{url}/manifest", f"/api/v1/items/{item_id}/result"):
            assert json_error(api.get(gone), 404).startswith("no such"), gone
        assert json_error(api.delete(url), 404) == "no such batch"
        listed = api.get("/api/v1/batches").json()
        assert [entry["id"] for entry in listed["batches"]] == [kept["id"]]

    def test_only_its_owner_can_delete_it(self, api: Any, other_user: Any) -> None:
        batch = create_batch(api, jpeg())
        _, other_key = api_key_create(user=other_user, name="b")
        intruder = Client(headers={"X-Api-Key": other_key})
        assert json_error(intruder.delete(f"/api/v1/batches/{batch['id']}"), 404) == "no such batch"
        assert Batch.objects.filter(pk=batch["id"]).exists()

    def test_the_page_deletes_with_its_csrf_token(self, user: Any) -> None:
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        token = get_random_string(32)
        browser.cookies["csrftoken"] = token
        made = browser.post("/api/v1/batches", {"files": [jpeg()]}, headers={"X-CSRFToken": token}).json()
        url = f"/api/v1/batches/{made['id']}"
        assert "CSRF" in json_error(browser.delete(url), 403)
        assert browser.delete(url, headers={"X-CSRFToken": token}).status_code == 204
        assert not Batch.objects.filter(pk=made["id"]).exists()

    def test_one_item_goes_and_its_batch_zips_without_it(self, api: Any) -> None:
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg", "coffee.png"))
        run_ready_jobs()
        kept, removed = (item["id"] for item in batch["items"])
        assert api.get(f"/api/v1/items/{removed}").json()["filename"] == "b.jpg"

        assert api.delete(f"/api/v1/items/{removed}").status_code == 204

        for gone in ("", "/result", "/original", "/mask"):
            assert json_error(api.get(f"/api/v1/items/{removed}{gone}"), 404) == "no such item", gone
        left = api.get(f"/api/v1/batches/{batch['id']}").json()
        assert [item["id"] for item in left["items"]] == [kept] and left["counts"]["total"] == 1
        with zipfile.ZipFile(io.BytesIO(b"".join(api.get(left["zip"])))) as archive:
            assert archive.namelist() == ["a.png", "manifest.json"]
        assert api.get(f"/api/v1/items/{kept}").json()["status"] == "done"

    def test_a_cutout_lost_from_storage_is_left_out_of_the_zip_which_the_manifest_says(self, api: Any) -> None:
        """A zip states its size first: a member found missing only when its turn came broke every download of the
        batch off there. It is found before, left out, and named in the manifest."""
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg", "coffee.png"))
        run_ready_jobs()
        lost = Item.objects.get(pk=batch["items"][1]["id"])
        default_storage.delete(lost.result.name)  # an operator's mistake, outside bgsite

        reply = api.get(f"/api/v1/batches/{batch['id']}/zip")
        body = b"".join(reply)
        assert int(reply["Content-Length"]) == len(body)
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert archive.namelist() == ["a.png", "manifest.json"]
            manifest = json.loads(archive.read("manifest.json"))
        entry = manifest["items"][1]
        assert (entry["original_name"], entry["output_name"], entry["bytes"]) == ("b.jpg", None, None)
        assert entry["error"].startswith("its cutout file is missing from storage, so the zip leaves it out")
        assert manifest == api.get(f"/api/v1/batches/{batch['id']}/manifest").json()

    def test_an_item_removed_while_its_download_starts_is_still_sent_whole(self, api: Any) -> None:
        batch = create_batch(api, jpeg("a.jpg"))
        run_ready_jobs()
        item = Item.objects.get(pk=batch["items"][0]["id"])
        stored = item.result.read()
        reply = api.get(f"/api/v1/items/{item.id}/result")  # its headers sent, its body not yet
        assert api.delete(f"/api/v1/items/{item.id}").status_code == 204
        run_deferred_file_deletions()
        assert not default_storage.exists(item.result.name)
        assert b"".join(reply) == stored and int(reply["Content-Length"]) == len(stored)

    def test_a_zip_under_way_is_sent_whole_as_it_began_after_an_item_is_removed_or_edited(self, api: Any) -> None:
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg", "coffee.png"), jpeg("c.jpg", "chelsea.png"))
        run_ready_jobs()
        _, edited, removed = (Item.objects.get(pk=item["id"]) for item in batch["items"])
        services.item_mask_save(item=edited, mask_png=half_mask((320, 240)))
        edited.refresh_from_db()
        first_edit = edited.result.name
        as_zipped = {"b.png": edited.result.read(), "c.png": removed.result.read()}
        download = api.get(f"/api/v1/batches/{batch['id']}/zip").streaming_content  # sent chunk by chunk

        def meanwhile() -> None:
            services.item_mask_save(item=edited, mask_png=half_mask((320, 240), keep="right"))  # replaces it
            assert api.delete(f"/api/v1/items/{removed.id}").status_code == 204

        with zipfile.ZipFile(io.BytesIO(async_to_sync(sent_with)(download, meanwhile))) as archive:
            assert archive.namelist() == ["a.png", "b.png", "c.png", "manifest.json"]
            assert {name: archive.read(name) for name in as_zipped} == as_zipped
        assert run_deferred_file_deletions() == 2  # the replaced revision, the removed item
        assert not default_storage.exists(removed.result.name) and not default_storage.exists(first_edit)

    def test_a_zip_downloaded_then_its_batch_deleted_at_once_arrives_whole(self, api: Any) -> None:
        """ "Download all", then "Delete batch" while the zip still streams: the files stay until it is sent."""
        batch = create_batch(api, jpeg("a.jpg"), jpeg("b.jpg", "coffee.png"))
        run_ready_jobs()
        names = [name for item in Item.objects.all() for name in (item.source.name, item.result.name)]
        download = api.get(f"/api/v1/batches/{batch['id']}/zip").streaming_content

        def meanwhile() -> None:
            assert api.delete(f"/api/v1/batches/{batch['id']}").status_code == 204
            assert api.get(f"/api/v1/batches/{batch['id']}").status_code == 404  # gone at once for every endpoint

        with zipfile.ZipFile(io.BytesIO(async_to_sync(sent_with)(download, meanwhile))) as archive:
            assert archive.namelist() == ["a.png", "b.png", "manifest.json"] and archive.testzip() is None
        assert run_deferred_file_deletions() == 1
        assert not any(default_storage.exists(name) for name in names)

    def test_a_stored_file_gone_before_its_download_is_a_404(self, api: Any) -> None:
        item_id = create_batch(api, jpeg("a.jpg"))["items"][0]["id"]
        default_storage.delete(Item.objects.get(pk=item_id).source.name)
        assert json_error(api.get(f"/api/v1/items/{item_id}/original"), 404) == "the stored file is missing"

    def test_only_its_owner_can_delete_an_item(self, api: Any, other_user: Any) -> None:
        item_id = create_batch(api, jpeg())["items"][0]["id"]
        _, other_key = api_key_create(user=other_user, name="b")
        intruder = Client(headers={"X-Api-Key": other_key})
        for method in (intruder.get, intruder.delete):
            assert json_error(method(f"/api/v1/items/{item_id}"), 404) == "no such item"
        assert Item.objects.filter(pk=item_id).exists()

    def test_wrong_method_names_delete(self, api: Any) -> None:
        batch = create_batch(api, jpeg())
        reply = api.put(f"/api/v1/batches/{batch['id']}")
        assert json_error(reply, 405) and reply["Allow"] == "GET, PATCH, DELETE, HEAD"


class TestIsolation:
    def test_another_users_objects_do_not_exist_for_me(self, api: Any, other_user: Any, client: Client) -> None:
        batch = create_batch(api, jpeg())
        run_ready_jobs()
        item_id = batch["items"][0]["id"]
        _, other_key = api_key_create(user=other_user, name="b")
        intruder = Client(headers={"X-Api-Key": other_key})
        for url in (
            f"/api/v1/batches/{batch['id']}",
            f"/api/v1/batches/{batch['id']}/zip",
            f"/api/v1/items/{item_id}/result",
            f"/api/v1/items/{item_id}/original",
        ):
            assert json_error(intruder.get(url), 404).startswith("no such")
        adding = intruder.post(f"/api/v1/batches/{batch['id']}/files", {"files": [jpeg()]})
        assert json_error(adding, 404) == "no such batch"
        assert intruder.get("/api/v1/batches").json()["count"] == 0

    @pytest.mark.parametrize("bad_id", ["nope", "00000000-0000-0000-0000-000000000000", "1%27%20OR%201=1"])
    def test_unknown_ids_are_404(self, api: Any, bad_id: str) -> None:
        assert json_error(api.get(f"/api/v1/batches/{bad_id}"), 404) == "no such batch"
        assert json_error(api.get(f"/api/v1/items/{bad_id}/result"), 404) == "no such item"


@pytest.mark.django_db
def test_every_front_door_refuses_a_large_file_with_the_same_words(api: Any, settings: Any) -> None:
    """One upload-size rule: the batch's per-file refusal and the single-image endpoints' 413 say the same."""
    settings.MAX_UPLOAD_BYTES = 20_000
    big = photo_bytes("astronaut.png", size=(1280, 960))
    words = f"the file is {len(big) / 1e6:.1f} MB; the limit is 0.02 MB per file"
    batch = api.post("/api/v1/batches", {"files": [SimpleUploadedFile("big.jpg", big, "image/jpeg")]})
    assert batch.json()["error"] == words or batch.json()["rejected"][0]["error"] == words
    pixlab = api.post("/bgremove", {"file": SimpleUploadedFile("big.jpg", big, "image/jpeg")})
    assert (pixlab.status_code, pixlab.json()["error"]) == (413, words)
    removebg = api.post("/v1.0/removebg", {"image_file": SimpleUploadedFile("big.jpg", big, "image/jpeg")})
    assert removebg.json()["errors"][0]["title"] == words


class TestNames:
    """A batch's name: given when it is made, changed with PATCH, shown in every reply, its zip named after it."""

    def test_a_name_given_at_creation_is_in_every_reply_and_names_the_zip(self, api: Any) -> None:
        reply = api.post("/api/v1/batches", {"files": [jpeg(size=(64, 48))], "name": "  Été, shoes  "})
        batch = reply.json()
        assert reply.status_code == 201 and batch["name"] == "Été, shoes"  # its white space at each end taken off
        run_ready_jobs()
        assert api.get("/api/v1/batches").json()["batches"][0]["name"] == "Été, shoes"
        assert api.get(batch["manifest"]).json()["name"] == "Été, shoes"
        disposition = api.get(batch["zip"])["Content-Disposition"]
        assert disposition == "attachment; filename*=utf-8''%C3%89t%C3%A9_shoes-cutouts.zip"
        unnamed = create_batch(api, jpeg(size=(64, 48)))
        run_ready_jobs()
        assert unnamed["name"] == ""
        assert api.get(unnamed["zip"])["Content-Disposition"].startswith('attachment; filename="cutouts-')

    @pytest.mark.parametrize(
        ("name", "zip_name"),
        [
            ("Spring/Summer 2026", r"Spring_Summer_2026-cutouts\.zip"),
            ("Shoes\\boots", r"Shoes_boots-cutouts\.zip"),
            ("2026.12 shoot", r"2026_12_shoot-cutouts\.zip"),
            ("\N{CHERRY BLOSSOM}\N{CHERRY BLOSSOM}", r"cutouts-[0-9-]{10}-[0-9a-f]{8}\.zip"),  # as if unnamed
        ],
    )
    def test_the_whole_name_names_the_zip(self, api: Any, name: str, zip_name: str) -> None:
        """A name with a slash was read as a path: "Spring/Summer 2026" gave Summer_2026-cutouts.zip; one of emoji,
        of which a file name keeps nothing, image-cutouts.zip."""
        batch = api.post("/api/v1/batches", {"files": [jpeg(size=(64, 48))], "name": name}).json()
        run_ready_jobs()
        disposition = api.get(batch["zip"])["Content-Disposition"]
        assert re.fullmatch(f'attachment; filename="{zip_name}"', disposition), disposition

    @pytest.mark.parametrize("how", ["json", "form"])
    def test_patch_renames_a_batch_and_an_empty_name_unnames_it(self, api: Any, how: str) -> None:
        batch = create_batch(api, jpeg(size=(64, 48)))
        url = f"/api/v1/batches/{batch['id']}"

        def renamed(name: str) -> Any:
            if how == "json":
                return api.patch(url, json.dumps({"name": name}), content_type="application/json")
            return api.patch(url, f"name={name}", content_type="application/x-www-form-urlencoded")

        reply = renamed("Spring catalogue")
        assert reply.status_code == 200, reply.content
        assert reply.json()["name"] == "Spring catalogue" and len(reply.json()["items"]) == 1
        assert Batch.objects.get(pk=batch["id"]).name == "Spring catalogue"
        assert renamed("").json()["name"] == ""
        assert api.get(url).json()["name"] == ""

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({"name": "x" * 101}, "name: 100 characters at most"),
            ({"name": "two\nlines"}, "control character"),
            ({"name": "two\u2028lines"}, "control character"),  # a line separator: it was taken
            ({"name": "two\u2029paragraphs"}, "control character"),
            ({"name": 7}, "name: must be a string, not a number"),
            ({"title": "x"}, "send the batch's new name as name"),
        ],
    )
    def test_a_name_it_cannot_take_is_a_400_and_changes_nothing(self, api: Any, body: Any, error: str) -> None:
        batch = create_batch(api, jpeg(size=(64, 48)))
        url = f"/api/v1/batches/{batch['id']}"
        reply = api.patch(url, json.dumps(body), content_type="application/json")
        assert error in json_error(reply, 400)
        assert Batch.objects.get(pk=batch["id"]).name == ""
        assert "name: 100 characters at most" in json_error(
            api.post("/api/v1/batches", {"files": [jpeg(size=(64, 48))], "name": "x" * 101}), 400
        )

    def test_a_multipart_patch_is_a_400_not_a_name_missing(self, api: Any) -> None:
        # Django reads a multipart body's fields for a POST only: the name sent was "not sent".
        batch = create_batch(api, jpeg(size=(64, 48)))
        body = encode_multipart(BOUNDARY, {"name": "Shoes"})
        reply = api.patch(f"/api/v1/batches/{batch['id']}", body, content_type=MULTIPART_CONTENT)
        assert json_error(reply, 400) == (
            "send a PATCH's fields as JSON or url-encoded, not as multipart/form-data (not read)"
        )

    def test_only_its_owner_renames_a_batch(self, api: Any, other_user: Any) -> None:
        theirs = services.batch_create(owner=other_user, name="theirs")
        reply = api.patch(f"/api/v1/batches/{theirs.id}", '{"name": "mine"}', content_type="application/json")
        json_error(reply, 404)
        assert Batch.objects.get(pk=theirs.id).name == "theirs"

    def test_a_rerun_keeps_the_name(self, api: Any) -> None:
        batch = api.post("/api/v1/batches", {"files": [jpeg(size=(64, 48))], "name": "Shoes"}).json()
        run_ready_jobs()
        rerun = api.post(f"/api/v1/batches/{batch['id']}/rerun", {"format": "webp"})
        assert rerun.status_code == 201 and rerun.json()["name"] == "Shoes"
