"""Live: a phone's photo (4 to 6 MB) sent in a multipart part without a filename, as Node's form-data given a
Buffer, requests given (None, bytes) and `curl -F 'image_file=<photo.jpg'` send it, is the upload at every front
door, as a file part is; a text field that large is still refused (bgsite.filenameless_parts)."""

import base64
import io

import pytest
import requests
from django.test import Client
from PIL import Image

from tests.conftest import LiveServer, phone_photo_jpeg, photo_bytes


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("filenameless")


@pytest.mark.live
@pytest.mark.parametrize(
    ("path", "field", "status"),
    [("/bgremove", "file", 200), ("/v1.0/removebg", "image_file", 200), ("/api/v1/batches", "files", 201)],
)
def test_a_phone_photo_without_a_filename_is_the_upload(
    embedded_server: LiveServer, key: str, path: str, field: str, status: int
) -> None:
    photo = phone_photo_jpeg()
    reply = requests.post(
        f"{embedded_server.url}{path}",
        files={field: (None, photo, "image/jpeg"), "size": (None, "preview")},
        headers={"X-Api-Key": key},
        timeout=120,
    )
    assert reply.status_code == status, reply.text[:300]
    if path == "/bgremove":
        cutout = base64.b64decode(reply.json()["imgData"])
    elif path == "/v1.0/removebg":
        cutout = reply.content
    else:
        (item,) = reply.json()["items"]
        assert item["filename"] == "files"  # named after its field, as no name came with it
        return
    with Image.open(io.BytesIO(cutout)) as image:
        assert image.format == "PNG" and image.size == (577, 433)  # size=preview: at most 0.25 megapixels


@pytest.mark.live
@pytest.mark.parametrize("path", ["/bgremove", "/api/v1/batches"])
def test_a_text_field_that_large_is_still_refused(embedded_server: LiveServer, key: str, path: str) -> None:
    reply = requests.post(
        f"{embedded_server.url}{path}",
        files={"img": (None, base64.b64encode(phone_photo_jpeg()))},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert reply.status_code == 413, reply.text[:300]
    assert reply.json() == {"status": 413, "error": reply.json()["error"], "request_id": reply.headers["X-Request-ID"]}
    assert reply.json()["error"].startswith("the form fields are too large (2.6 MB at most in all, files aside)")


@pytest.mark.django_db
def test_the_rule_is_the_requests_under_any_server(api: Client) -> None:
    """Django's test client, no ASGI door: the request's parser itself finds the file (as a view that reads
    request.FILES, the page's uploads included, does), before anything reads the key among its fields."""
    boundary = "----no-filename"
    photo = photo_bytes("astronaut.png", size=(160, 120))
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"\r\n\r\n'.encode()
        + photo
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="size"\r\n\r\npreview'.encode()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    reply = api.post("/api/v1/batches", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert reply.status_code == 201, reply.content[:300]
    (item,) = reply.json()["items"]
    assert item["filename"] == "files" and reply.json()["options"]["size_preview"] is True
