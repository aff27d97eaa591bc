"""A corpus of odd and hostile inputs, generated here, through the batch API and /bgremove.

Valid odd images must come out right (orientation applied, alpha present);
invalid ones must get a clear 4xx JSON error; nothing may answer 5xx, and zip
member names stay safe and unique whatever the uploaded names were.
"""

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from removal.models import Item
from removal.ops.worker import run_ready_jobs
from tests.conftest import REPO, LiveServer, error_text, heic_bytes, heic_header_only, photo_bytes


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    # None: a valid image, to be processed to this (width, height); else a fragment of the error.
    size: tuple[int, int] | None = None
    error: str = ""


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (160, 120)) -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes("astronaut.png", size=size))).convert("RGB")


def png_bomb() -> bytes:
    """A valid PNG header declaring 100000x100000 pixels, with almost no data."""
    header = b"\x89PNG\r\n\x1a\n"
    ihdr = (100000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    return header + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def gif_bomb() -> bytes:
    """A GIF whose logical screen claims 65535x65535 pixels."""
    data = bytearray(encoded(Image.new("P", (8, 8)), "GIF"))
    data[6:10] = (65535).to_bytes(2, "little") * 2
    return bytes(data)


def exif_rotated(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(photo((160, 120)), "JPEG", exif=exif)


def animated_gif() -> bytes:
    frames = [photo((96, 64)).convert("P"), Image.new("P", (96, 64))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def palette_with_transparency() -> bytes:
    image = photo((120, 90)).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return encoded(image, "PNG", transparency=0)


def sixteen_bit_png() -> bytes:
    grey = np.asarray(photo((120, 90)).convert("L"), dtype=np.uint16) * 257
    return encoded(Image.fromarray(grey), "PNG")


JPEG = photo_bytes("astronaut.png", size=(160, 120))
PNG = encoded(photo((160, 120)), "PNG")

PNG_BOMB_REFUSAL = "the image is 10,000.0 megapixels; the limit is 50 megapixels"  # as docs/reliability.md quotes it

CORPUS = [
    Case("empty.jpg", lambda: b"", error="empty"),
    Case("text.jpg", lambda: b"just some text\n" * 20, error="not an image we can read"),
    Case("page.png", lambda: b"<!doctype html><html><script>alert(1)</script></html>", error="not an image"),
    Case("vector.jpg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', error="not"),
    Case("truncated.jpg", lambda: JPEG[: len(JPEG) // 2], error="truncated or corrupt"),
    Case("truncated.png", lambda: PNG[: len(PNG) // 2], error="corrupt"),
    Case("bomb.png", png_bomb, error=PNG_BOMB_REFUSAL),
    Case("bomb.gif", gif_bomb, error="megapixels"),
    Case("damaged.heic", heic_header_only, error="this HEIC/HEIF file cannot be read"),
    Case("iphone.heic", lambda: heic_bytes(photo((160, 120)), orientation=6), size=(120, 160)),
    Case("tiny.ppm", lambda: encoded(Image.new("RGB", (4, 4)), "PPM"), error="PPM images are not supported"),
    Case("wide.png", lambda: encoded(Image.new("RGB", (20000, 2), "white"), "PNG"), size=(20000, 2)),
    Case("dot.png", lambda: encoded(Image.new("RGB", (1, 1), "red"), "PNG"), size=(1, 1)),
    Case("cmyk.jpg", lambda: encoded(photo().convert("CMYK"), "JPEG"), size=(160, 120)),
    Case("deep.png", sixteen_bit_png, size=(120, 90)),
    Case("grey.jpg", lambda: encoded(photo().convert("L"), "JPEG"), size=(160, 120)),
    Case("palette.png", palette_with_transparency, size=(120, 90)),
    Case("animated.gif", animated_gif, size=(96, 64)),
    Case("photo.avif", lambda: encoded(photo(), "AVIF"), size=(160, 120)),
    Case("photo.webp", lambda: encoded(photo(), "WEBP"), size=(160, 120)),
    *[
        Case(
            f"exif-{orientation}.jpg",
            lambda o=orientation: exif_rotated(o),
            size=(120, 160) if orientation >= 5 else (160, 120),
        )
        for orientation in range(2, 9)
    ],
]
IDS = [case.name for case in CORPUS]


def check_cutout(png: bytes, size: tuple[int, int]) -> None:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.mode == "RGBA"
        assert image.size == size


def test_reliability_md_quotes_the_refusals_as_the_server_words_them() -> None:
    """The page said 10000.0 megapixels where the server writes 10,000.0."""
    page = (REPO / "docs" / "reliability.md").read_text()
    assert f"| 400 `{PNG_BOMB_REFUSAL}` |" in page
    assert "| 400 `the file is empty` |" in page


@pytest.mark.django_db
@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_batch_api(api: Any, case: Case) -> None:
    reply = api.post("/api/v1/batches", {"files": [SimpleUploadedFile(case.name, case.make())]})
    assert reply.status_code < 500
    if reply.status_code == 400:  # refused at upload
        assert case.error, reply.json()
        assert case.error in reply.json()["error"]
        return
    assert reply.status_code == 201
    run_ready_jobs()
    item = Item.objects.get()
    if case.size is None:
        assert (item.status, item.input_rejected) == ("failed", True)
        assert case.error in item.error
        return
    assert item.status == "done", item.error
    with item.result.open("rb") as result:
        check_cutout(result.read(), case.size)


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("hostile")


@pytest.mark.live
@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_bgremove(embedded_server: LiveServer, key: str, case: Case) -> None:
    reply = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"file": (case.name, case.make())},
        data={"key": key, "blob": "1"},
        timeout=120,
    )
    if case.size is None:
        assert reply.status_code == 400, reply.text
        assert set(reply.json()) == {"status", "error", "request_id"}
        assert case.error in reply.json()["error"]
    else:
        assert reply.status_code == 200, reply.text
        check_cutout(reply.content, case.size)


@pytest.mark.django_db
def test_hostile_file_names_give_safe_unique_zip_members(api: Any) -> None:
    names = [
        "../../../etc/passwd.jpg",
        "/absolute/path/photo.jpg",
        "C:\\Windows\\win.jpg",
        "nul\x00byte.jpg",
        "x" * 300 + ".jpg",
        "résumé 写真 📷.jpg",
        "photo.jpg",
        "PHOTO.jpg",
        ".hidden.jpg",
        "con.jpg",
        "???.jpg",
        "com\u00b9.jpg",  # Windows refuses COM¹ as it does COM1
    ]
    files = [SimpleUploadedFile(name, JPEG) for name in names]
    reply = api.post("/api/v1/batches", {"files": files})
    assert reply.status_code == 201, reply.content
    run_ready_jobs()
    body = b"".join(api.get(reply.json()["zip"]))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        members = archive.namelist()[:-1]  # the last is manifest.json
    assert len(members) == len(set(name.lower() for name in members)) == len(names)
    for member in members:
        assert "/" not in member and "\\" not in member and "\x00" not in member and ".." not in member
        assert member.endswith(".png") and len(member) <= 110 and not member.startswith(".")
    assert "con_.png" in members and "nulbyte.png" in members and "com\u00b9_.png" in members


@pytest.mark.live
@pytest.mark.parametrize(
    ("request_args", "status", "fragment"),
    [
        ({"data": {"img": ""}}, 400, "missing 'img'"),
        ({"files": {"": ("", b"")}}, 400, ""),
        ({"params": {"img": "http://example.com/" + "a" * 100_000}}, 400, ""),
        ({"data": b"{bad json", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
        ({"params": {"img": "ftp://example.com/a.jpg"}}, 400, "only http and https"),
        ({"params": {"img": "data:image/png;base64,AAAA"}}, 400, "only http and https"),
        (  # read as it came: "not valid JSON"
            {
                "data": gzip.compress(b'{"img": "https://a.example/b.jpg"}'),
                "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            },
            415,
            "the request body is sent with Content-Encoding 'gzip'; send it as it is",
        ),
        (  # Django's reason, where the reply said "bad request"
            {
                "data": "img=https://a.example/b.jpg".encode("utf-16"),
                "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-16"},
            },
            400,
            "HTTP requests with the 'application/x-www-form-urlencoded' content type must be UTF-8 encoded.",
        ),
    ],
)
def test_malformed_requests(
    embedded_server: LiveServer, key: str, request_args: Any, status: int, fragment: str
) -> None:
    headers = {"X-Api-Key": key, **request_args.pop("headers", {})}
    reply = requests.post(f"{embedded_server.url}/bgremove", headers=headers, timeout=30, **request_args)
    assert reply.status_code < 500
    assert reply.status_code in (status, 413, 414, 431), reply.text
    if reply.headers.get("Content-Type") == "application/json":
        assert fragment in reply.json()["error"]


# The headers of a part that holds a PNG, as every door takes one (remove.bg's field name; the others take any).
PNG_PART_HEADERS = (
    b'Content-Disposition: form-data; name="image_file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
)


@pytest.mark.live
@pytest.mark.parametrize("path", ["/api/v1/batches", "/bgremove", "/v1.0/removebg"])
def test_a_multipart_body_of_another_boundary_than_its_content_types_is_a_400_that_says_so(
    embedded_server: LiveServer, key: str, path: str
) -> None:
    # Django's parser read no part of it: the reply was "no files", "missing 'img'" or "No image given", for an upload
    # that sent one (a client that wrote the body and the header apart, or a proxy that rewrote one of them).
    data = b"--XX\r\n" + PNG_PART_HEADERS + encoded(Image.new("RGB", (8, 8)), "PNG") + b"\r\n--XX--\r\n"
    headers = {"X-Api-Key": key, "Content-Type": "multipart/form-data; boundary=YY"}
    reply = requests.post(f"{embedded_server.url}{path}", data=data, headers=headers, timeout=30)
    assert reply.status_code == 400, reply.text
    error = error_text(path, reply)
    assert error == "the multipart/form-data body holds no part that starts with its boundary, 'YY'"


@pytest.mark.live
@pytest.mark.parametrize("path", ["/api/v1/batches", "/bgremove", "/v1.0/removebg"])
def test_a_multipart_body_that_ends_inside_its_file_is_a_400_that_says_so(
    embedded_server: LiveServer, key: str, path: str
) -> None:
    # Django's parser drops a file part no boundary ends: a stream that stopped early (or a Content-Length shorter than
    # the body) was answered "no files", "missing 'img'" or "No image given", for an upload that sent an image.
    # Its closing boundary never sent.
    chunks = [b"--XX\r\n" + PNG_PART_HEADERS, encoded(Image.new("RGB", (8, 8)), "PNG")]
    headers = {"X-Api-Key": key, "Content-Type": "multipart/form-data; boundary=XX"}
    reply = requests.post(f"{embedded_server.url}{path}", data=iter(chunks), headers=headers, timeout=30)
    assert reply.status_code == 400, reply.text
    error = error_text(path, reply)
    assert error.startswith("the multipart/form-data body ends inside a part, with no boundary after it"), error
