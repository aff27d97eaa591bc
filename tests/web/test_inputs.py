"""removal.web.inputs: the parameters a request sends, as every front door reads them."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from removal.models import Batch, StoredImage
from tests.conftest import error_text
from tests.web.test_input_images import image_file


def multipart_with_a_text_field(image_field: str, field: str, value: bytes, *, declared: str = "") -> tuple[bytes, str]:
    """A body of an image file part and a text part (no filename) whose bytes are `value`, as a client writing its
    form in the page's or system's charset (Latin-1, Windows-1252) sends them; with `declared`, the text part says
    that charset (Content-Type: text/plain; charset=...), as Python's requests-toolbelt or curl's `;type=` do."""
    boundary = "----text-not-utf8"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{image_field}"; filename="a.png"\r\n'
    body = (
        f"{head}Content-Type: image/png\r\n\r\n".encode()
        + image_file("a.png").read()
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n'.encode()
        + (f"Content-Type: text/plain; charset={declared}\r\n" if declared else "").encode()
        + b"\r\n"
        + value
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


# A text option at each door, with the field that door takes its image in.
OPTION_AT_EACH_DOOR = [
    ("/api/v1/batches", "files", "format"),
    ("/bgremove", "file", "bg_color"),
    ("/v1.0/removebg", "image_file", "size"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "image_field", "field"), [("/api/v1/batches", "files", "name"), *OPTION_AT_EACH_DOOR])
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
    message = error_text(path, reply)
    assert message.startswith(f"{field}: not UTF-8 text"), message
    if path == "/v1.0/removebg":
        assert body_read["errors"][0]["code"] == f"invalid_{field}"
    assert not Batch.objects.exists() and not StoredImage.objects.exists()


CAFE = "Caf\N{LATIN SMALL LETTER E WITH ACUTE}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("declared", "value", "name"),
    [
        ("iso-8859-1", CAFE.encode("latin-1"), CAFE),
        ("windows-1252", "\N{EURO SIGN}5".encode("cp1252"), "\N{EURO SIGN}5"),
        ("utf-16", CAFE.encode("utf-16"), CAFE),
        ("latin1", CAFE.encode(), CAFE.encode().decode("latin-1")),  # UTF-8's bytes, said to be Latin-1: as said
        ("utf-8", CAFE.encode(), CAFE),
    ],
)
def test_a_text_field_in_the_charset_it_declares_is_read_in_that_charset(
    api: Any, declared: str, value: bytes, name: str
) -> None:
    # Its declared charset was not read: bytes that are not UTF-8 were "name: not UTF-8 text" (a 400), and UTF-8's
    # bytes said to be Latin-1 were read as UTF-8.
    body, content_type = multipart_with_a_text_field("files", "name", value, declared=declared)
    reply = api.post("/api/v1/batches", body, content_type=content_type)
    assert reply.status_code == 201, reply.content
    assert (reply.json()["name"], Batch.objects.get().name) == (name, name)
    assert [item["filename"] for item in reply.json()["items"]] == ["a.png"]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "image_field", "field"), OPTION_AT_EACH_DOOR)
def test_an_option_in_the_charset_it_declares_is_read_as_that_text_at_every_door(
    api: Any, path: str, image_field: str, field: str
) -> None:
    # The option's value is read and judged as the text it is, not refused for its bytes ("not UTF-8 text").
    value = "gr\N{LATIN SMALL LETTER E WITH ACUTE}en"
    body, content_type = multipart_with_a_text_field(image_field, field, value.encode("latin-1"), declared="ISO-8859-1")
    reply = api.post(path, body, content_type=content_type)
    assert reply.status_code == 400, reply.content
    message = error_text(path, reply)
    assert message.startswith(f"{field}: ") and value in message and "UTF-8" not in message, message
    assert not Batch.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "image_field"), [("/api/v1/batches", "files"), ("/v1.0/removebg", "image_file")])
def test_a_text_field_in_a_charset_python_does_not_know_is_refused_naming_it(
    api: Any, path: str, image_field: str
) -> None:
    body, content_type = multipart_with_a_text_field(image_field, "size", b"gr\xe9en", declared="x-klingon")
    reply = api.post(path, body, content_type=content_type)
    assert reply.status_code == 400, reply.content
    assert error_text(path, reply).startswith("size: not UTF-8 text"), reply.content
    assert not Batch.objects.exists()


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
