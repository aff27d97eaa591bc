"""Live: bgsite with S3 storage (moto's server over HTTP): uploads, cutouts and zips in the bucket."""

import io
import json
import re
import time
import zipfile
from typing import Any

import pytest
import requests
from django.conf import settings
from PIL import Image

from tests.conftest import LiveServer, S3Server, photo_bytes, rss_bytes, sample_when_made

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def s3_site(server_factory: Any, s3_server: S3Server) -> tuple[LiveServer, str]:
    # Links are signed for "localhost" while the servers use 127.0.0.1, as in compose.
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")
    # Deleted files go when their deletion commits (not DELETED_FILES_KEPT_SECONDS later), for the bucket checks.
    server = server_factory(**s3_server.env, AWS_S3_PUBLIC_ENDPOINT_URL=public, DELETED_FILES_KEPT_SECONDS="0")
    server.start()
    return server, server.create_user("s3user")


def bucket_keys(s3_server: S3Server) -> list[str]:
    listing = s3_server.client().list_objects_v2(Bucket=s3_server.bucket)
    return [entry["Key"] for entry in listing.get("Contents", [])]


def posted_photo(server: LiveServer, key: str, path: str) -> requests.Response:
    """A photo sent to `path` (/bgremove or /store) with the key among the form's fields, as PixLab's clients send."""
    reply = requests.post(
        f"{server.url}{path}", files={"file": ("me.jpg", photo_bytes("astronaut.png"))}, data={"key": key}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    return reply


def test_bgremove_replies_with_a_time_limited_link(s3_site: Any, s3_server: S3Server) -> None:
    server, key = s3_site
    body = posted_photo(server, key, "/bgremove").json()
    assert set(body) == {"status", "link", "mimeType", "extension", "confidence", "needs_review"}
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")
    assert body["link"].startswith(f"{public}/{s3_server.bucket}/users/")
    assert "X-Amz-Expires=" in body["link"] and "X-Amz-Signature=" in body["link"]
    cutout = requests.get(body["link"], timeout=10)
    assert cutout.status_code == 200
    with Image.open(io.BytesIO(cutout.content)) as image:
        assert image.mode == "RGBA"

    blob = requests.post(
        f"{server.url}/bgremove",
        files={"file": ("me.jpg", photo_bytes("astronaut.png"))},
        data={"key": key, "blob": "1"},
        timeout=60,
    )
    assert blob.headers["Content-Type"] == "image/png"


def test_batch_files_live_in_the_bucket_the_zip_streams_from_it_and_deleting_takes_them(
    s3_site: Any, s3_server: S3Server
) -> None:
    server, key = s3_site
    headers = {"X-Api-Key": key}
    files = [
        ("files", (f"p{index}.jpg", photo_bytes("coffee.png", size=(320, 240)), "image/jpeg")) for index in range(3)
    ]
    batch = requests.post(f"{server.url}/api/v1/batches", headers=headers, files=files, timeout=30).json()
    url = f"{server.url}/api/v1/batches/{batch['id']}"
    for _ in range(300):
        state = requests.get(url, headers=headers, timeout=10).json()
        if state["status"] == "done":
            break
        time.sleep(0.2)
    assert state["counts"]["done"] == 3

    keys = bucket_keys(s3_server)
    for item in state["items"]:
        assert any(item["id"] in key and "/cutout-" in key for key in keys)
        assert any(item["id"] in key and "/source.jpg" in key for key in keys)
        # Downloads go straight to the bucket by a presigned link, not through Django.
        result = requests.get(f"{server.url}{item['result']}", headers=headers, allow_redirects=False, timeout=10)
        assert result.status_code == 302
        assert result.headers["Location"].startswith(s3_server.endpoint.replace("127.0.0.1", "localhost"))
        assert requests.get(result.headers["Location"], timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"
        # A part of it too (a video player seeking, a download resumed): S3 answers Range itself.
        part = requests.get(result.headers["Location"], headers={"Range": "bytes=1-3"}, timeout=10)
        assert part.status_code == 206 and part.content == b"PNG"
        assert part.headers["Content-Range"].startswith("bytes 1-3/")
        # Thumbnails too: the cutout's made by the worker, the original's on this first request, both kept.
        assert any(item["id"] in key and "/cutout-" in key and key.endswith("-thumbnail.webp") for key in keys)
        for thumbnail in (item["result_thumbnail"], item["original_thumbnail"]):
            small = requests.get(f"{server.url}{thumbnail}", headers=headers, allow_redirects=False, timeout=10)
            assert small.status_code == 302
            assert requests.get(small.headers["Location"], timeout=10).content[8:12] == b"WEBP"
        assert any(item["id"] in key and key.endswith("/source-thumbnail.webp") for key in bucket_keys(s3_server))

    download = requests.get(f"{url}/zip", headers=headers, timeout=60)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.namelist() == ["p0.png", "p1.png", "p2.png", "manifest.json"]
        assert archive.testzip() is None
    # A cutout lost from the bucket (by hand) is left out of the zip, found in one listing of the batch's keys.
    lost = next(key for key in keys if state["items"][1]["id"] in key and key.endswith(".png") and "/cutout-" in key)
    s3_server.client().delete_object(Bucket=s3_server.bucket, Key=lost)
    with zipfile.ZipFile(io.BytesIO(requests.get(f"{url}/zip", headers=headers, timeout=60).content)) as archive:
        assert archive.namelist() == ["p0.png", "p2.png", "manifest.json"]
        assert "missing from storage" in json.loads(archive.read("manifest.json"))["items"][1]["error"]

    # Deleted by its owner, the batch leaves no object in the bucket (thumbnails included).
    assert any(batch["id"] in key for key in bucket_keys(s3_server))
    assert requests.delete(url, headers=headers, timeout=30).status_code == 204
    assert not any(batch["id"] in key for key in bucket_keys(s3_server))


def test_deleting_an_account_leaves_no_row_and_no_object_in_the_bucket(s3_site: Any, s3_server: S3Server) -> None:
    import re

    server, _ = s3_site
    key = server.create_user("leaver")
    user_id = server.shell(
        "from django.contrib.auth.models import User; result = User.objects.get(username='leaver').pk"
    )
    headers = {"X-Api-Key": key}
    files = [
        ("files", (f"p{index}.jpg", photo_bytes("chelsea.png", size=(200, 150)), "image/jpeg")) for index in range(2)
    ]
    batch = requests.post(f"{server.url}/api/v1/batches", headers=headers, files=files, timeout=30).json()
    for _ in range(300):
        state = requests.get(f"{server.url}/api/v1/batches/{batch['id']}", headers=headers, timeout=10).json()
        if state["status"] == "done":
            break
        time.sleep(0.2)
    mask = io.BytesIO()
    Image.new("L", (200, 150), 255).save(mask, "PNG")
    edited = requests.post(
        f"{server.url}{state['items'][0]['mask']}",
        headers=headers,
        files={"mask": ("m.png", mask.getvalue())},
        timeout=30,
    )
    assert edited.status_code == 200, edited.text
    stored = requests.post(
        f"{server.url}/store", data={"key": key}, files={"file": ("s.jpg", photo_bytes())}, timeout=30
    )
    assert stored.status_code == 200, stored.text
    prefix = f"users/{user_id}/"
    before = [name for name in bucket_keys(s3_server) if name.startswith(prefix)]
    assert len(before) >= 8, before  # 2 sources, 2 cutouts, 2 masks, the edit's cutout and mask, the stored image

    browser = server.signed_in("leaver")
    page = browser.get(f"{server.url}/accounts/delete/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    deleted = browser.post(
        f"{server.url}/accounts/delete/",
        {"password": "correct horse battery", "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=60,
    )
    assert deleted.status_code == 302 and deleted.headers["Location"] == "/"
    assert requests.get(f"{server.url}/api/v1/batches", headers=headers, timeout=10).status_code == 401  # at once

    for _ in range(300):  # the rest by the deletion's job, which the server's workers run
        if "an ended account's data was deleted" in server.log():
            break
        time.sleep(0.2)
    assert [name for name in bucket_keys(s3_server) if name.startswith(prefix)] == []
    rows = server.shell(
        "from django.contrib.auth.models import User; from removal.models import Batch, Item, StoredImage; "
        "from accounts.models import ApiKey; "
        f"result = [m.objects.filter(**{{f: {user_id}}}).count() for m, f in ((User, 'pk'), (Batch, 'owner_id'), "
        f"(Item, 'batch__owner_id'), (StoredImage, 'owner_id'), (ApiKey, 'user_id'))]",
    )
    assert rows == "[0, 0, 0, 0, 0]"
    assert requests.get(f"{server.url}/api/v1/batches", headers=headers, timeout=10).status_code == 401
    assert "deleted an ended account's batches: 1 batches, " in server.log()  # in steps, before the user's rows
    assert "deleted an account's data: 0 batches, 0 items, 1 stored images" in server.log()


def test_requests_share_one_s3_connection(s3_site: Any) -> None:
    """Each request's synchronous code runs in a thread of its own; django-storages' connection per thread made a
    boto3 session for every request that touched the bucket (about 5 MB kept and 100 ms each: 30 /store calls
    +177 MB, 121 ms median against 22 ms now)."""
    server, key = s3_site
    assert server.process is not None

    def store() -> None:
        reply = posted_photo(server, key, "/store")
        stored = requests.get(reply.json()["link"], params={"key": key}, allow_redirects=False, timeout=30)
        assert "localhost" in stored.headers["Location"]  # signed by the storage of the public address: shared too

    for _ in range(5):  # the heap's one-time growth (its arenas, pages the trimmer gave back) before measuring
        store()
    before = rss_bytes(server.process.pid)
    for _ in range(20):
        store()
    assert rss_bytes(server.process.pid) - before < 20e6


def test_a_reused_result_is_copied_inside_the_bucket(s3_site: Any, s3_server: S3Server) -> None:
    """The same photo with the same options again: its cutout is copied by S3 itself, not downloaded and sent back
    (a reused /bgremove on moto: 91 ms a call before, 61 ms)."""
    server, key = s3_site
    headers = {"X-Api-Key": key}
    photo = [("files", ("same.jpg", photo_bytes("chelsea.png", size=(320, 240)), "image/jpeg"))]

    def finished_item() -> dict[str, Any]:
        batch = requests.post(f"{server.url}/api/v1/batches", headers=headers, files=photo, timeout=30).json()
        for _ in range(300):
            state = requests.get(f"{server.url}/api/v1/batches/{batch['id']}", headers=headers, timeout=10).json()
            if state["status"] == "done":
                return dict(state["items"][0])
            time.sleep(0.2)
        raise AssertionError(state)

    def result_bytes(item: dict[str, Any]) -> bytes:
        link = requests.get(f"{server.url}{item['result']}", headers=headers, allow_redirects=False, timeout=10)
        return requests.get(link.headers["Location"], timeout=10).content

    first, again = finished_item(), finished_item()
    assert again["cached"] is True and first["cached"] is False
    assert any(again["id"] in name and name.endswith("/cutout-reused.png") for name in bucket_keys(s3_server))
    assert result_bytes(again) == result_bytes(first)


def test_the_first_screens_sample_is_made_into_the_bucket_and_served_from_it(s3_site: Any, s3_server: S3Server) -> None:
    """The workers make it as they start (removal.services.sample), and any web process serves it from the bucket."""
    server, _ = s3_site
    sample = sample_when_made(server.url, timeout=60)
    assert sample.status_code == 200 and sample.headers["Content-Type"] == "image/png"
    (key,) = [key for key in bucket_keys(s3_server) if key.startswith("samples/")]
    assert s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() == sample.content
    assert re.fullmatch(rf"samples/cutout-{re.escape(settings.REMBG_MODEL)}-\w{{16}}\.png", key)
