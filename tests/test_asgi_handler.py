"""bgsite/asgi_handler.py, live: uploads streamed with `Transfer-Encoding: chunked` (no Content-Length) reach
the views with their files and fields, in every API."""

from collections.abc import Iterator

import pytest
import requests
from urllib3 import encode_multipart_formdata

from tests.conftest import LiveServer, photo_bytes

pytestmark = pytest.mark.live

PHOTO = photo_bytes("astronaut.png", size=(320, 240))


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("chunked")


def streamed(server: LiveServer, key: str, path: str, body: bytes, content_type: str) -> requests.Response:
    """`body` POSTed in two chunks: a generator body makes requests send it chunked, with no Content-Length."""

    def chunks() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        yield body[len(body) // 2 :]

    headers = {"X-Api-Key": key, "Content-Type": content_type}
    return requests.post(f"{server.url}{path}", data=chunks(), headers=headers, timeout=60)


def test_a_streamed_remove_bg_upload_is_cut_out(embedded_server: LiveServer, key: str) -> None:
    fields = [("image_file", ("photo.jpg", PHOTO, "image/jpeg")), ("size", "200x200")]
    body, content_type = encode_multipart_formdata(fields)
    response = streamed(embedded_server, key, "/v1.0/removebg", body, content_type)
    assert response.status_code == 200, response.text
    assert (response.headers["X-Width"], response.headers["X-Height"]) == ("200", "150")  # the field was read too


def test_a_streamed_batch_upload_keeps_every_file(embedded_server: LiveServer, key: str) -> None:
    photos = [(f"photo-{index}.jpg", photo_bytes("coffee.png", size=(160 + index, 120))) for index in range(3)]
    body, content_type = encode_multipart_formdata([("files", photo) for photo in photos])
    response = streamed(embedded_server, key, "/api/v1/batches", body, content_type)
    assert response.status_code == 201, response.text
    assert [item["filename"] for item in response.json()["items"]] == ["photo-0.jpg", "photo-1.jpg", "photo-2.jpg"]


def test_a_streamed_pixlab_upload_is_cut_out(embedded_server: LiveServer, key: str) -> None:
    body, content_type = encode_multipart_formdata([("file", ("photo.jpg", PHOTO, "image/jpeg"))])
    response = streamed(embedded_server, key, "/bgremove", body, content_type)
    assert response.status_code == 200, response.text
    assert response.json()["imgData"]
