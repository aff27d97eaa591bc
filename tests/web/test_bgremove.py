"""Live: /bgremove and /store as PixLab clients call them, against a real server process."""

import base64
import io
import json
import time
import zipfile
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from tests.conftest import REPO, LiveServer, photo_bytes

pytestmark = pytest.mark.live

PHOTO = photo_bytes("astronaut.png", size=(320, 320))


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("pixlab")


@pytest.fixture(scope="module")
def loopback_server(server_factory: Any) -> tuple[LiveServer, str]:
    """A server whose operator allowed fetching from 127.0.0.1."""
    server = server_factory(FETCH_ALLOWED_NETWORKS="127.0.0.1/32")
    server.start()
    return server, server.create_user("fetcher")


def assert_cutout_png(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.mode == "RGBA"
        alpha = np.asarray(image.getchannel("A"))
    assert (alpha == 0).any() and (alpha > 200).any()


def assert_success(reply: requests.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"status", "imgData", "mimeType", "extension", "confidence", "needs_review"}
    assert body["status"] == 200 and isinstance(body["status"], int)
    assert 0 <= body["confidence"] <= 1 and isinstance(body["needs_review"], bool)
    assert (body["mimeType"], body["extension"]) == ("image/png", "png")
    assert_cutout_png(base64.b64decode(body["imgData"], validate=True))
    return body


def assert_error(reply: requests.Response, status: int, fragment: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"status", "error", "request_id"} and body["request_id"] == reply.headers["X-Request-ID"]
    assert body["status"] == status
    assert fragment in body["error"], body["error"]


@pytest.mark.parametrize("path", ["/bgremove", "/api/v1/bgremove"])
@pytest.mark.parametrize(
    "key_form", ["key-param", "www-authenticate", "www-authenticate-bearer", "x-api-key", "bearer"]
)
def test_multipart_upload_with_every_key_form(embedded_server: LiveServer, key: str, path: str, key_form: str) -> None:
    headers = {
        "www-authenticate": {"WWW-Authenticate": key},
        "www-authenticate-bearer": {"WWW-Authenticate": f"Bearer {key}"},
        "x-api-key": {"X-Api-Key": key},
        "bearer": {"Authorization": f"Bearer {key}"},
    }.get(key_form, {})
    data = {"key": key} if key_form == "key-param" else {}
    reply = requests.post(
        f"{embedded_server.url}{path}",
        files={"file": ("me.jpg", PHOTO, "image/jpeg")},
        data=data,
        headers=headers,
        timeout=60,
    )
    assert_success(reply)


def test_a_key_in_the_form_and_another_in_a_header_are_refused_not_one_taken(
    embedded_server: LiveServer, key: str
) -> None:
    # The header's key was taken without a word, the image made and counted as whoever it named.
    other_key = embedded_server.create_user("bgremove-two-keys")
    reply = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"file": ("me.jpg", PHOTO, "image/jpeg")},
        data={"key": other_key},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert_error(reply, 401, "2 different API keys were sent (X-Api-Key, body); send one")


@pytest.mark.parametrize("path", ["/bgremove", "/store", "/api/v1/batches"])
def test_an_image_in_a_part_without_a_filename_is_the_upload(embedded_server: LiveServer, key: str, path: str) -> None:
    """Node's form-data given a Buffer and requests given (None, bytes) send the image in a part without a filename,
    which Django keeps as a text field; the key comes in a form field, as PixLab's samples send it. A batch takes two,
    the others one (tests/web/test_input_images.py: two are refused there)."""
    second = {"files": (None, PHOTO)} if path == "/api/v1/batches" else {}
    reply = requests.post(
        f"{embedded_server.url}{path}",
        files={"file": (None, PHOTO, "image/jpeg"), **second},
        data={"key": key},
        timeout=60,
    )
    assert reply.status_code in (200, 201), reply.text[:300]
    if path == "/bgremove":
        assert_success(reply)
    elif path == "/api/v1/batches":
        assert reply.json()["counts"]["total"] == 2


@pytest.mark.parametrize("blob", ["true", "1", "yes"])
def test_blob_returns_the_png_itself(embedded_server: LiveServer, key: str, blob: str) -> None:
    reply = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"image": ("me.jpg", PHOTO, "image/jpeg")},
        data={"key": key, "blob": blob},
        timeout=60,
    )
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "image/png"
    assert_cutout_png(reply.content)
    assert float(reply.headers["X-Confidence"]) >= 0.6 and reply.headers["X-Needs-Review"] == "false"


def test_a_videos_cutout_is_labelled_a_zip(embedded_server: LiveServer, key: str) -> None:
    """A video's cutout is a zip of frames and a WebM: its reply says so, not the `format` (png) it was sent with."""
    from tests.cutout.test_video import make_video

    clip = make_video(".mp4", "libx264", frames=3)

    def send(**fields: str) -> requests.Response:
        return requests.post(
            f"{embedded_server.url}/bgremove",
            files={"image": ("clip.mp4", clip, "video/mp4")},
            data=fields,
            headers={"X-Api-Key": key},
            timeout=60,
        )

    reply = send(blob="true")
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/zip"
    assert "cutout.webm" in zipfile.ZipFile(io.BytesIO(reply.content)).namelist()
    body = send().json()
    assert (body["mimeType"], body["extension"]) == ("application/zip", "zip")
    assert base64.b64decode(body["imgData"]) == reply.content


def test_a_cutout_that_may_need_a_look_says_so(embedded_server: LiveServer, key: str) -> None:
    """Grass has no subject: the model keeps specks, and the reply flags it (JSON field and blob header)."""
    grass = photo_bytes("grass.png", size=(320, 240))
    reply = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"image": ("grass.jpg", grass, "image/jpeg")},
        data={"key": key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["needs_review"] is True and reply.json()["confidence"] < 0.2
    blob = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"image": ("grass.jpg", grass, "image/jpeg")},
        data={"key": key, "blob": "true"},
        timeout=60,
    )
    assert blob.headers["X-Needs-Review"] == "true"
    assert float(blob.headers["X-Confidence"]) == reply.json()["confidence"]


def test_store_then_bgremove_by_link_or_id_with_a_json_body(embedded_server: LiveServer, key: str) -> None:
    stored = requests.post(
        f"{embedded_server.url}/store", files={"file": ("me.jpg", PHOTO, "image/jpeg")}, data={"key": key}, timeout=30
    )
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["status"] == 200 and body["link"].startswith(embedded_server.url)
    assert requests.get(body["link"], headers={"X-Api-Key": key}, timeout=10).content == PHOTO
    for reference in (body["link"], body["id"]):
        reply = requests.post(f"{embedded_server.url}/bgremove", json={"img": reference, "key": key}, timeout=60)
        assert_success(reply)
    blob = requests.post(
        f"{embedded_server.url}/bgremove", json={"img": body["id"], "key": key, "blob": True}, timeout=60
    )
    assert blob.headers["Content-Type"] == "image/png"
    # fetch(url, {method: "POST", body: JSON.stringify({...})}) labels the body text/plain;charset=UTF-8
    for prefix in (b"", b"\xef\xbb\xbf\n "):  # as it is, and after a byte order mark and white space
        as_text = requests.post(
            f"{embedded_server.url}/bgremove",
            data=prefix + json.dumps({"img": body["id"], "key": key}).encode(),
            headers={"Content-Type": "text/plain;charset=UTF-8"},
            timeout=60,
        )
        assert_success(as_text)


def test_another_users_stored_image_cannot_be_used(embedded_server: LiveServer, key: str) -> None:
    stored = requests.post(
        f"{embedded_server.url}/store", files={"file": ("me.jpg", PHOTO, "image/jpeg")}, data={"key": key}, timeout=30
    ).json()
    other = embedded_server.create_user("pixlab-other")
    reply = requests.post(f"{embedded_server.url}/bgremove", json={"img": stored["link"], "key": other}, timeout=30)
    assert_error(reply, 404, "no stored image")
    assert requests.get(stored["link"], headers={"X-Api-Key": other}, timeout=10).status_code == 404


def test_a_store_link_to_another_host_is_that_hosts_image_not_the_callers_stored_one(
    loopback_server: Any, image_host: Any
) -> None:
    """Its host was ignored: another server's /store/<id> link (here the image host, 127.0.0.1 at another port) was
    read as the caller's own stored image of that id (7th hostile probe). It is a URL like any other, fetched."""
    server, key = loopback_server
    address, seen = image_host
    stored = requests.post(
        f"{server.url}/store", files={"file": ("me.jpg", PHOTO, "image/jpeg")}, data={"key": key}, timeout=30
    ).json()
    elsewhere = f"http://{address}/api/v1/store/{stored['id']}"
    cutout = base64.b64decode(
        assert_success(requests.post(f"{server.url}/bgremove", json={"img": elsewhere, "key": key}, timeout=60))[
            "imgData"
        ]
    )
    assert seen == [f"/api/v1/store/{stored['id']}"]
    assert Image.open(io.BytesIO(cutout)).size == Image.open(io.BytesIO(photo_bytes("chelsea.png"))).size != (320, 320)
    # The link /store gave, at this server's host and port (under another name it answers to too), is the stored image.
    for link in (stored["link"], stored["link"].replace("127.0.0.1", "localhost")):
        own = requests.post(f"{server.url}/bgremove", json={"img": link, "key": key, "blob": True}, timeout=60)
        assert Image.open(io.BytesIO(own.content)).size == (320, 320)
    assert len(seen) == 1


def test_url_input_from_an_allowed_host(loopback_server: Any, image_host: Any) -> None:
    server, key = loopback_server
    address, seen = image_host
    url = f"http://{address}/image.jpg"
    assert_success(requests.get(f"{server.url}/bgremove", params={"img": url, "key": key}, timeout=60))
    assert_success(requests.post(f"{server.url}/bgremove", data={"img": url, "key": key}, timeout=60))
    assert_success(requests.post(f"{server.url}/bgremove", json={"img": url, "key": key}, timeout=60))
    assert seen == ["/image.jpg"] * 3


def test_redirect_from_an_allowed_host_to_a_refused_one(loopback_server: Any, image_host: Any) -> None:
    server, key = loopback_server
    address, seen = image_host
    port = address.rsplit(":", 1)[1]
    url = f"http://{address}/redirect?to=http://localhost.:{port}/image.jpg"
    target = f"http://127.0.0.2:{port}/image.jpg"
    for img in (url, f"http://{address}/redirect?to={target}"):
        reply = requests.get(f"{server.url}/bgremove", params={"img": img, "key": key}, timeout=30)
        assert reply.status_code == 400, reply.text
        assert "non-public address" in reply.json()["error"] or "could not resolve" in reply.json()["error"]
    assert all(path.startswith("/redirect") for path in seen)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "2130706433", "0x7f000001", "017700000001", "[::ffff:127.0.0.1]"]
)
def test_loopback_urls_are_refused_by_default(
    embedded_server: LiveServer, key: str, image_host: Any, host: str
) -> None:
    address, seen = image_host
    port = address.rsplit(":", 1)[1]
    reply = requests.get(
        f"{embedded_server.url}/bgremove", params={"img": f"http://{host}:{port}/image.jpg", "key": key}, timeout=30
    )
    assert_error(reply, 400, "non-public address")
    assert seen == []


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({}, 400, "missing 'img'"),
        ({"img": ""}, 400, "missing 'img'"),
        ({"img": "file:///etc/passwd"}, 400, "not 'file'"),
        ({"img": "gopher://127.0.0.1:70/x"}, 400, "not 'gopher'"),
        ({"img": "http://no-such-host.invalid/a.jpg"}, 400, "could not resolve"),
    ],
)
def test_bad_img_values(
    embedded_server: LiveServer, key: str, params: dict[str, str], status: int, fragment: str
) -> None:
    reply = requests.get(f"{embedded_server.url}/bgremove", params={**params, "key": key}, timeout=30)
    assert_error(reply, status, fragment)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"roi": "0 0 0 0"}, "roi: the box '0px 0px 0px 0px' has no area"),
        ({"roi": "400px 0px 500px 100px"}, "roi: the box 400px 0px 500px 100px holds none of this 320x320 image"),
        ({"shadow_opacity": "abc"}, "shadow_opacity: must be a whole number from 0 to 100, not 'abc'"),
    ],
)
def test_options_it_cannot_use_are_a_400_naming_them(
    embedded_server: LiveServer, key: str, params: dict[str, str], fragment: str
) -> None:
    """An empty roi gave a wholly transparent cutout, and a bad shadow_opacity without add_shadow a cutout."""
    reply = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"file": ("me.jpg", PHOTO, "image/jpeg")},
        data={"key": key, **params},
        timeout=60,
    )
    assert_error(reply, 400, fragment)


def test_bad_keys(embedded_server: LiveServer, key: str) -> None:
    url = f"{embedded_server.url}/bgremove"
    assert_error(
        requests.get(url, params={"img": "http://x.invalid/a.jpg"}, timeout=10), 401, "authentication required"
    )
    assert_error(requests.get(url, params={"img": "x", "key": "bgs_nope"}, timeout=10), 401, "invalid API key")
    assert_error(
        requests.get(url, params={"img": "x"}, headers={"WWW-Authenticate": key + "x"}, timeout=10), 401, "invalid"
    )


def test_revoked_key_is_refused_at_once(embedded_server: LiveServer) -> None:
    embedded_server.create_user("revoker")
    key = embedded_server.manage("createapikey", "revoker", "--name", "second").strip().splitlines()[-1]
    prefix = key.split("_")[0] + "_" + key.split("_")[1]
    files = {"file": ("me.jpg", PHOTO, "image/jpeg")}
    assert requests.post(f"{embedded_server.url}/bgremove", files=files, data={"key": key}, timeout=60).ok
    embedded_server.manage(
        "shell",
        "-c",
        f"from accounts.models import ApiKey; from accounts.services import api_key_revoke; "
        f"k = ApiKey.objects.get(prefix={prefix!r}); api_key_revoke(user=k.user, key_id=k.pk)",
    )
    reply = requests.post(f"{embedded_server.url}/bgremove", files=files, data={"key": key}, timeout=60)
    assert_error(reply, 401, "revoked")


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"hello", "not an image"),
        (b"", "empty"),
        (PHOTO[: len(PHOTO) // 3], "truncated or corrupt"),
    ],
)
def test_bad_images(embedded_server: LiveServer, key: str, payload: bytes, fragment: str) -> None:
    reply = requests.post(
        f"{embedded_server.url}/bgremove", files={"file": ("x.jpg", payload)}, data={"key": key}, timeout=60
    )
    assert_error(reply, 400, fragment)


def test_malformed_json_and_wrong_method(embedded_server: LiveServer, key: str) -> None:
    url = f"{embedded_server.url}/bgremove"
    reply = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json", "X-Api-Key": key})
    assert_error(reply, 400, "not valid JSON")
    reply = requests.post(url, data=b"[1, 2]", headers={"Content-Type": "application/json", "X-Api-Key": key})
    assert_error(reply, 400, "must be an object")
    assert_error(requests.delete(url, headers={"X-Api-Key": key}, timeout=10), 405, "not allowed")


def test_bgremove_calls_do_not_show_up_as_batches(embedded_server: LiveServer) -> None:
    key = embedded_server.create_user("onlyapi")
    requests.post(f"{embedded_server.url}/bgremove", files={"f": ("a.jpg", PHOTO)}, data={"key": key}, timeout=60)
    listing = requests.get(f"{embedded_server.url}/api/v1/batches", headers={"X-Api-Key": key}, timeout=10).json()
    assert listing["count"] == 0


def test_quota_and_rate_limits_answer_429_with_headers(server_factory: Any) -> None:
    server = server_factory(DAILY_IMAGE_QUOTA="1", RATE_LIMIT_PER_KEY="3/h")
    server.start()
    key = server.create_user("limited")
    url = f"{server.url}/bgremove"
    first = requests.post(url, files={"f": ("a.jpg", PHOTO)}, data={"key": key}, timeout=60)
    assert_success(first)
    assert first.headers["RateLimit-Limit"] == "3" and first.headers["RateLimit-Remaining"] == "2"
    for _ in range(2):  # requests 2 and 3 of the 3 allowed per hour
        over_quota = requests.post(url, files={"f": ("a.jpg", PHOTO)}, data={"key": key}, timeout=60)
        assert_error(over_quota, 429, "daily quota of 1 credits reached")
        assert int(over_quota.headers["Retry-After"]) > 0
    too_fast = requests.post(url, files={"f": ("a.jpg", PHOTO)}, data={"key": key}, timeout=60)
    assert_error(too_fast, 429, "rate limit of 3/h per API key exceeded")
    assert too_fast.headers["RateLimit-Remaining"] == "0" and int(too_fast.headers["Retry-After"]) > 0
    server.stop()


def test_timeout_answers_504_and_says_where_the_result_will_be(server_factory: Any) -> None:
    """PixLab's shape says where the cutout will be, as docs/api.md quotes it; remove.bg's, which has no field to say
    it in, says to send the call again (it pointed at a 'result' its reply did not have)."""
    server = server_factory(BGREMOVE_TIMEOUT_SECONDS="0.01")
    server.start()
    key = server.create_user("impatient")
    reply = requests.post(f"{server.url}/bgremove", files={"f": ("a.jpg", PHOTO)}, data={"key": key}, timeout=60)
    body = reply.json()
    assert reply.status_code == 504 and body["status"] == 504
    assert "still being made" in body["error"]
    assert f"`{body['error'].replace('0.01 s', '60 s')}`" in (REPO / "docs" / "api.md").read_text()
    other = photo_bytes("astronaut.png", size=(300, 320))
    late = requests.post(
        f"{server.url}/v1.0/removebg", files={"image_file": ("b.jpg", other)}, headers={"X-Api-Key": key}, timeout=60
    )
    (error,) = late.json()["errors"]
    assert late.status_code == 504 and error["code"] == "timeout" and "'result'" not in error["title"], late.text
    assert error["title"].endswith("the service is busy: try again shortly")
    result_url = f"{server.url}{body['result']}"
    for _ in range(300):
        result = requests.get(result_url, headers={"X-Api-Key": key}, timeout=10)
        if result.status_code == 200:
            break
        time.sleep(0.1)
    assert_cutout_png(result.content)
    server.stop()


NO_STORE_FILE = "no file: upload the image as multipart/form-data (any field name but bg_image or bg_image_file)"


def test_store_without_a_file(embedded_server: LiveServer, key: str) -> None:
    reply = requests.post(f"{embedded_server.url}/store", data={"key": key}, timeout=10)
    assert_error(reply, 400, NO_STORE_FILE)


def test_store_with_only_a_background_says_what_store_takes(embedded_server: LiveServer, key: str) -> None:
    """It answered with the batch API's words: "send one or more images as multipart/form-data 'files' fields"."""
    background = {"bg_image": ("bg.png", PHOTO, "image/png")}
    reply = requests.post(f"{embedded_server.url}/store", files=background, data={"key": key}, timeout=10)
    assert_error(reply, 400, NO_STORE_FILE)
