"""removal.web.input_images: the images a request sends, as the service takes them."""

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from bgsite.networks import parse_networks
from removal.models import Batch, Item, StoredImage
from removal.web.input_images import url_filename

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
    error = body["errors"][0]["title"] if path == "/v1.0/removebg" else body["error"]
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
    message = body["errors"][0]["title"] if path == "/v1.0/removebg" else body["error"]
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


def multipart_with_a_text_field(image_field: str, field: str, value: bytes) -> tuple[bytes, str]:
    """A body of an image file part and a text part (no filename) whose bytes are `value`, as a client writing its
    form in the page's or system's charset (Latin-1, Windows-1252) sends them."""
    boundary = "----text-not-utf8"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{image_field}"; filename="a.png"\r\n'
    body = (
        f"{head}Content-Type: image/png\r\n\r\n".encode()
        + image_file("a.png").read()
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'.encode()
        + value
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "image_field", "field"),
    [
        ("/api/v1/batches", "files", "name"),
        ("/api/v1/batches", "files", "format"),
        ("/bgremove", "file", "bg_color"),
        ("/v1.0/removebg", "image_file", "size"),
    ],
)
def test_a_text_field_not_in_utf8_is_refused_naming_it_not_taken_for_an_image(
    api: Any, path: str, image_field: str, field: str
) -> None:
    # A field's bytes that are not UTF-8 text made it a file part (bgsite.filenameless_parts), read as an image: the
    # batch was made without its name, with a "name" file in `rejected` (not an image we can read), and the calls
    # that take one image said "send one image per call, not 2".
    body, content_type = multipart_with_a_text_field(
        image_field, field, "Caf\N{LATIN SMALL LETTER E WITH ACUTE}".encode("latin-1")
    )
    reply = api.post(path, body, content_type=content_type)
    assert reply.status_code == 400, reply.content
    body_read = reply.json()
    message = body_read["errors"][0]["title"] if path == "/v1.0/removebg" else body_read["error"]
    assert message.startswith(f"{field}: not UTF-8 text"), message
    if path == "/v1.0/removebg":
        assert body_read["errors"][0]["code"] == f"invalid_{field}"
    assert not Batch.objects.exists() and not StoredImage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/merge-patch+json", "application/vnd.api+json"])
def test_a_json_body_of_a_json_based_media_type_is_read_as_json(api: Any, content_type: str) -> None:
    # A media type with RFC 6839's +json suffix is JSON: its body was not read, so a rename sent as JSON Merge Patch
    # (RFC 7396, PATCH's own type) was told "send the batch's new name as name", and /v1.0/removebg "No image given".
    batch = Batch.objects.create(owner=User.objects.get(), name="")
    reply = api.patch(f"/api/v1/batches/{batch.id}", '{"name": "Merged"}', content_type=content_type)
    assert reply.status_code == 200, reply.content
    assert Batch.objects.get().name == "Merged"
    refused = api.post("/v1.0/removebg", '{"image_url": "ftp://example.com/a.jpg"}', content_type=content_type)
    assert refused.json()["errors"][0]["title"].startswith("image_url:"), refused.content
