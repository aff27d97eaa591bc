"""removal.web.input_images: the images a request sends, as the service takes them."""

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from bgsite.networks import parse_networks
from removal.models import Batch, Item, StoredImage
from removal.web.input_images import url_filename
from tests.conftest import error_text

NAME = "\N{LATIN SMALL LETTER E WITH ACUTE}" * 300  # past the column's 255 characters


@pytest.mark.parametrize(
    ("url", "filename"),
    [
        (f"https://cdn.example/photos/{NAME}.jpeg?w=800", NAME[:250] + ".jpeg"),
        (f"https://cdn.example/{'%C3%A9' * 300}.webp", NAME[:250] + ".webp"),  # as a browser writes the path
        (f"https://cdn.example/v2.{NAME}", f"v2.{NAME}"[:255]),  # after its last dot a name, not an extension
        (f"https://cdn.example/{NAME}", NAME[:255]),
        ("https://cdn.example/shop/cat.jpg", "cat.jpg"),
        ("https://cdn.example/", "image"),
    ],
)
def test_an_image_urls_name_is_its_paths_last_part_cut_to_the_column_keeping_its_extension(
    url: str, filename: str
) -> None:
    """Cut at 255 characters, a URL's long name lost its extension (the item, its download and the batch's zip named
    "éééé…" with no kind)."""
    assert url_filename(url) == filename


def image_file(name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 18), (200, 30, 30)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/bgremove", "/api/v1/batches", "/v1.0/removebg"])
@pytest.mark.parametrize(
    ("backgrounds", "named"),
    [
        ({"bg_image": [image_file("b.png"), image_file("c.png")]}, "bg_image and bg_image"),
        ({"bg_image": image_file("b.png"), "bg_image_url": "https://example.com/b.png"}, "bg_image and bg_image_url"),
        ({"bg_color": "00ff00", "bg_image": image_file("b.png")}, "bg_color and bg_image"),
    ],
)
def test_two_backgrounds_are_refused_naming_them_not_one_dropped(
    api: Any, path: str, backgrounds: dict[str, Any], named: str
) -> None:
    # Every front door took the first background and dropped the other without a word (remove.bg's refused a
    # bg_color beside a bg_image_url, but not two bg_image files; the others composited onto the image and dropped
    # the colour).
    image_field = {"/bgremove": "file", "/api/v1/batches": "files", "/v1.0/removebg": "image_file"}[path]
    reply = api.post(path, {image_field: image_file("a.png"), **backgrounds})
    assert reply.status_code == 400
    body = reply.json()
    error = error_text(path, reply)
    assert error == f"send one background only, not {named}"
    if path == "/v1.0/removebg":
        assert body["errors"][0]["code"] == "multiple_bg_sources"
    assert not Batch.objects.exists()


TWO = "send one image per call, not 2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "sent", "error"),
    [
        ("/bgremove", {"file": [image_file("a.png"), image_file("b.png")]}, TWO),
        ("/bgremove", {"a": image_file("a.png"), "b": image_file("b.png")}, TWO),
        ("/store", {"file": [image_file("a.png"), image_file("b.png")]}, TWO),
        ("/v1.0/removebg", {"image_file": [image_file("a.png"), image_file("b.png")]}, TWO),
        ("/v1.0/removebg", {"image_file": image_file("a.png"), "b": image_file("b.png")}, "send one image per call"),
        (
            "/v1.0/removebg",
            {"photo": image_file("a.png"), "image_url": "https://example.com/b.png"},
            "send the image one way only, not image_file and image_url together",
        ),
        (
            "/bgremove",
            {"file": image_file("a.png"), "img": "https://example.com/b.png"},
            "send the image one way only: an uploaded file or img, not both",
        ),
    ],
)
def test_a_call_that_takes_one_image_refuses_two_rather_than_drop_one(
    api: Any, path: str, sent: dict[str, Any], error: str
) -> None:
    # The first image was taken and the other dropped without a word (a file under another name than image_file
    # beside an image_url, the URL taken).
    reply = api.post(path, sent)
    assert reply.status_code == 400, reply.content
    body = reply.json()
    message = error_text(path, reply)
    assert message.startswith(error), message
    if path == "/v1.0/removebg":
        assert body["errors"][0]["code"] == "multiple_sources"
    assert not Batch.objects.exists() and not StoredImage.objects.exists()


@pytest.mark.django_db(transaction=True)  # /bgremove waits for its cutout in another thread, which reads the item
def test_bgremove_takes_an_img_url_beside_a_bg_image_file(
    api: Any, image_host: tuple[str, list[str]], settings: Any
) -> None:
    # A bg_image file made the image URL count as absent: 400 "no files: send one or more images ... 'files' fields".
    settings.FETCH_ALLOWED_NETWORKS = parse_networks(["127.0.0.1/32"])
    settings.BGREMOVE_TIMEOUT_SECONDS = 0.2  # no worker here: the image is queued, its cutout not awaited
    host, seen = image_host
    reply = api.post("/bgremove", {"img": f"http://{host}/image.jpg", "bg_image": image_file("b.png")})
    assert reply.status_code == 504, reply.content
    item = Item.objects.get()
    assert (item.filename, seen) == ("image.jpg", ["/image.jpg"])
    assert item.batch.options["bg_image_sha256"]


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/octet-stream", "application/xml"])
@pytest.mark.parametrize("path", ["/bgremove", "/v1.0/removebg", "/store", "/api/v1/batches", "batch files"])
def test_a_body_neither_form_nor_json_is_a_415_naming_the_types_read(
    api: Any, user: Any, path: str, content_type: str
) -> None:
    """Raw image bytes (or XML) as the body: Django reads no field and no file of it, and the request was refused
    for what it lacked ("no file: upload the image as multipart/form-data", 400), not for its type."""
    if path == "batch files":
        path = f"/api/v1/batches/{Batch.objects.create(owner=user).pk}/files"
    reply = api.post(path, data=b"\xff\xd8\xff\xe0 raw bytes", content_type=content_type)
    assert reply.status_code == 415
    error = reply.json()["errors"][0]["title"] if path.startswith("/v1.0/") else reply.json()["error"]
    assert error == (
        f"a request body of Content-Type {content_type} is not read here: send multipart/form-data (images as "
        "files), application/x-www-form-urlencoded or application/json"
    )
    if path.startswith("/v1.0/"):
        assert reply.json()["errors"][0]["code"] == "unsupported_media_type"
    else:
        assert reply.json()["status"] == 415
    assert not Item.objects.exists() and not StoredImage.objects.exists()


def test_a_call_without_a_body_is_read_whatever_its_content_type_says(api: Any) -> None:
    """PixLab's GET /bgremove?img=URL has no body: its parameters are the query string's."""
    reply = api.get("/bgremove", {"img": ""}, content_type="application/octet-stream")
    assert reply.status_code == 400 and reply.json()["error"].startswith("missing 'img'")
    reply = api.post("/store", data=b"", content_type="application/xml")  # no body: no file, the 400 that says so
    assert reply.status_code == 400 and reply.json()["error"].startswith("no file: upload the image")
