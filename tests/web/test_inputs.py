"""removal.web.inputs: what a request's fields become before the service takes them."""

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from removal.models import Batch
from removal.web.inputs import url_filename

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
