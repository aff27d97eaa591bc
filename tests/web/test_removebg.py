"""Live: the remove.bg-compatible API, called the way remove.bg's own sample code calls it."""

import base64
import html
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from removal.web import removebg
from tests.conftest import LiveServer, photo_bytes

pytestmark = pytest.mark.live

PHOTO = photo_bytes("astronaut.png", size=(400, 300))


@pytest.fixture(scope="module")
def key(embedded_server: LiveServer) -> str:
    return embedded_server.create_user("removebg")


def send_file(
    server: LiveServer, key: str, photo: bytes, data: dict[str, str], timeout: float = 60
) -> requests.Response:
    """`photo` sent as remove.bg's clients send a file: `image_file`, the options as form fields, the key in
    X-Api-Key."""
    return requests.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("photo.jpg", photo)},
        data=data,
        headers={"X-Api-Key": key},
        timeout=timeout,
    )


def test_sample_code_upload(embedded_server: LiveServer, key: str, tmp_path: Path) -> None:
    source = tmp_path / "file.jpg"
    source.write_bytes(PHOTO)
    # As in remove.bg's Python sample, with only the base URL and key changed:
    with source.open("rb") as image_file:
        response = requests.post(
            f"{embedded_server.url}/v1.0/removebg",
            files={"image_file": image_file},
            data={"size": "auto"},
            headers={"X-Api-Key": key},
            timeout=60,
        )
    assert response.status_code == requests.codes.ok, response.text
    (tmp_path / "no-bg.png").write_bytes(response.content)

    with Image.open(tmp_path / "no-bg.png") as cutout:
        assert cutout.format == "PNG" and cutout.mode == "RGBA" and cutout.size == (400, 300)
    headers = response.headers
    assert (headers["X-Width"], headers["X-Height"]) == ("400", "300")
    assert headers["X-Type"] == "other" and headers["X-Credits-Charged"] == "1"
    top, left = int(headers["X-Foreground-Top"]), int(headers["X-Foreground-Left"])
    width, height = int(headers["X-Foreground-Width"]), int(headers["X-Foreground-Height"])
    assert 0 <= left < left + width <= 400 and 0 <= top < top + height <= 300 and width * height > 10_000
    # Ours: how sure the cutout is, and whether it may need a look.
    assert float(headers["X-Confidence"]) >= 0.6 and headers["X-Needs-Review"] == "false"
    assert len(headers["X-Confidence"].split(".")[1]) == 3


def test_the_first_screens_one_line_call_gives_the_whole_photos_cutout(embedded_server: LiveServer, key: str) -> None:
    """The signed-out visitor's curl line, sent as it reads: without remove.bg's `size=auto` (its own sample has
    it) the call took remove.bg's default, a 0.25-megapixel preview, where the line promises the photo's cutout."""
    landing = requests.get(f"{embedded_server.url}/", timeout=30).text
    call = html.unescape(re.search(r'<pre class="code" id="landing-api-call"><code>(.*?)</code>', landing).group(1))
    fields = dict(field.split("=", 1) for field in re.findall(r"-F (\S+)", call))
    assert fields.pop("image_file") == "@photo.jpg"

    response = requests.post(
        call.split()[-1],
        files={"image_file": ("photo.jpg", photo_bytes("astronaut.png", size=(800, 600)))},
        data=fields,
        headers={"X-Api-Key": key},
        timeout=60,
    )

    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as cutout:
        assert cutout.size == (800, 600)


def test_a_cutout_that_may_need_a_look_says_so_in_its_headers(embedded_server: LiveServer, key: str) -> None:
    """The rocket on its launch tower: the model is unsure where the one ends, flagged in the headers of a JSON
    reply too."""
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file": ("rocket.jpg", photo_bytes("rocket.jpg", size=(320, 240)), "image/jpeg")},
        headers={"X-Api-Key": key, "Accept": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Needs-Review"] == "true" and float(response.headers["X-Confidence"]) < 0.5


def test_a_photo_without_a_subject_is_unknown_foreground_and_not_charged(server_factory: Any) -> None:
    """As remove.bg answers it: a 400 that clients tell apart by its code, and the credit given back."""
    server = server_factory(DAILY_IMAGE_QUOTA="3")
    server.start()
    key = server.create_user("nothing")
    # A plain wall (the model keeps specks), a black photo and a lawn (a faint blob the model is all but sure is wrong).
    pictures = [Image.new("RGB", (640, 480), (128, 128, 128)), Image.new("RGB", (640, 480))]
    pictures.append(Image.open(io.BytesIO(photo_bytes("grass.png"))).convert("RGB"))

    for picture in pictures:
        sent = io.BytesIO()
        picture.save(sent, "JPEG")
        reply = send_file(server, key, sent.getvalue(), {"size": "auto"})
        assert reply.status_code == 400, reply.text
        (error,) = reply.json()["errors"]
        assert error["code"] == "unknown_foreground" and "no subject was found" in error["title"]
        assert reply.headers["X-Credits-Charged"] == "0" and reply.headers["X-Needs-Review"] == "true"
    assert credits_left(server, key) == 3
    assert send_file(server, key, PHOTO, {"size": "preview"}).status_code == 200
    assert credits_left(server, key) == 2.75
    server.stop()


def test_size_auto_is_the_whole_image_while_a_credit_is_left_else_a_preview(server_factory: Any) -> None:
    """remove.bg's `auto`, "the highest available resolution, based on image size and available credits", which
    removebg-cli and others send by default: with 0.75 credits left it was a 402 insufficient_credits. Each cutout
    is made once and reused for the same photo: the reused one is the size charged, not the other one cached."""
    server = server_factory(DAILY_IMAGE_QUOTA="3")
    server.start()
    key = server.create_user("auto")
    photo = photo_bytes("astronaut.png", size=(1280, 960))

    def cut_out(size: str) -> tuple[tuple[int, int], str]:
        reply = send_file(server, key, photo, {"size": size})
        assert reply.status_code == 200, reply.text
        with Image.open(io.BytesIO(reply.content)) as cutout:
            return cutout.size, reply.headers["X-Credits-Charged"]

    assert cut_out("preview") == ((577, 433), "0.25")
    assert cut_out("auto") == ((1280, 960), "1")  # 2.75 credits left: the whole image, not the cached preview
    assert credits_left(server, key) == 1.75
    assert cut_out("full") == ((1280, 960), "1")
    assert cut_out("auto") == ((577, 433), "0.25")  # 0.75 left: a preview, at most 0.25 MP, not the cached whole
    assert credits_left(server, key) == 0.5
    assert [cut_out("preview")[1] for _ in range(2)] == ["0.25", "0.25"]
    refused = send_file(server, key, photo, {"size": "auto"})
    assert refused.status_code == 402 and refused.json()["errors"][0]["code"] == "insufficient_credits"
    assert "(0 left today, 0.25 asked;" in refused.json()["errors"][0]["title"]
    server.stop()


def test_an_animation_cropped_to_its_subject_reports_its_box(embedded_server: LiveServer, key: str) -> None:
    """A GIF's frames cut out and cropped to the box that holds the subject in all of them: that box is the whole
    result (it was reported as no subject at all); frames of a plain wall show none."""
    photo = Image.open(io.BytesIO(PHOTO)).convert("RGB")
    cropped = send_file(embedded_server, key, gif([photo.rotate(angle) for angle in (0, 4, 8)]), {"crop": "true"})
    assert cropped.status_code == 200, cropped.text
    box = [int(cropped.headers[f"X-Foreground-{side}"]) for side in ("Left", "Top", "Width", "Height")]
    assert box == [0, 0, int(cropped.headers["X-Width"]), int(cropped.headers["X-Height"])]
    walls = send_file(embedded_server, key, gif([Image.new("RGB", (400, 300), (128, 128, 128))] * 3), {"crop": "true"})
    assert walls.status_code == 400 and walls.json()["errors"][0]["code"] == "unknown_foreground"


def gif(frames: list[Image.Image]) -> bytes:
    animation = io.BytesIO()
    frames[0].save(animation, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return animation.getvalue()


def credits_left(server: LiveServer, key: str) -> float:
    account = requests.get(f"{server.url}/v1.0/account", headers={"X-Api-Key": key}, timeout=10).json()
    return account["data"]["attributes"]["credits"]["total"]


def test_json_reply_base64_input_and_options(embedded_server: LiveServer, key: str) -> None:
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        data={
            "image_file_b64": base64.b64encode(PHOTO).decode(),
            "format": "jpg",
            "bg_color": "00ff00",
            "crop": "true",
            "crop_margin": "10px",
            "type": "person",
        },
        headers={"X-Api-Key": key, "Accept": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {"result_b64", "foreground_top", "foreground_left", "foreground_width", "foreground_height"}
    with Image.open(io.BytesIO(base64.b64decode(data["result_b64"]))) as image:
        assert image.format == "JPEG"
        assert image.size == (data["foreground_width"] + 20, data["foreground_height"] + 20)
    assert response.headers["X-Type"] == "person"


def test_axios_default_accept_header_gets_the_image(embedded_server: LiveServer, key: str) -> None:
    """remove.bg's own Node.js sample posts with axios, whose every request says "application/json, text/plain,
    */*", and writes the reply to no-bg.png."""
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file": ("photo.jpg", PHOTO)},
        data={"size": "auto"},
        headers={"X-Api-Key": key, "Accept": "application/json, text/plain, */*"},
        timeout=60,
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("accept", "json_reply"),
    [
        ("application/json", True),
        ("text/html, application/json", True),
        ("application/json, text/plain, */*", False),
        ("application/json;q=0.9, image/*;q=0.5", False),
        ("image/png", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_json_reply_only_for_a_client_that_would_not_take_the_image(accept: str, json_reply: bool) -> None:
    assert removebg.wants_json(accept) is json_reply


def test_alpha_channel_and_preview(embedded_server: LiveServer, key: str) -> None:
    big = photo_bytes("coffee.png", size=(1280, 960))
    response = send_file(embedded_server, key, big, {"size": "preview", "channels": "alpha"})
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.mode == "L" and image.width * image.height <= 250_000


def test_hd_as_remove_bg_clients_ask_for_it_is_at_most_4_megapixels(embedded_server: LiveServer, key: str) -> None:
    """The `removebg` package on PyPI documents "hd = 4 MP" and sends it as a form field, as here."""
    photo = photo_bytes("coffee.png", size=(2600, 1950))
    response = send_file(embedded_server, key, photo, {"size": "hd"}, timeout=120)
    assert response.status_code == 200, response.text
    width, height = int(response.headers["X-Width"]), int(response.headers["X-Height"])
    assert (width, height) == (2309, 1732) and response.headers["X-Credits-Charged"] == "1"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.size == (width, height)


@pytest.fixture(scope="module")
def phone_photo_b64() -> str:
    """A photo whose base64 is over Django's 2.5 MB for form fields and JSON, as a phone's photos are."""
    encoded = base64.b64encode(photo_bytes("coffee.png", size=(2000, 1500), fmt="PNG")).decode()
    assert len(encoded) > 4_000_000
    return encoded


@pytest.mark.parametrize("body", ["json", "form"])
def test_a_phone_photo_in_base64_is_cut_out(
    embedded_server: LiveServer, key: str, phone_photo_b64: str, body: str
) -> None:
    """remove.bg's clients send image_file_b64 in a JSON body (npm remove.bg, removd) or a url-encoded form
    (PyPI removebg, remove-bg-api)."""
    fields = {"image_file_b64": phone_photo_b64, "size": "preview"}
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        **({"json": fields} if body == "json" else {"data": fields}),  # type: ignore[arg-type]
        headers={"X-Api-Key": key},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert (response.headers["X-Width"], response.headers["X-Height"]) == ("577", "433")


def test_a_phone_photo_in_base64_in_a_multipart_field_is_refused_with_the_way_that_works(
    embedded_server: LiveServer, key: str, phone_photo_b64: str
) -> None:
    """Django bounds a multipart body's text fields (2.5 MB); the reply says how to send it instead."""
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={"image_file_b64": (None, phone_photo_b64)},  # a text part, as PyPI remove-bg sends it with a file
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["title"].startswith("the form fields are too large (2.6 MB at most in all, files aside)")
    assert "image_file_b64 in a url-encoded or JSON body" in error["title"]


@pytest.mark.parametrize("body", ["json", "form"])
def test_a_base64_body_is_read_only_for_a_known_caller(
    embedded_server: LiveServer, phone_photo_b64: str, body: str
) -> None:
    """Without a key in a header, the reply asks for one (a url-encoded body's key field, looked for in a body over
    Django's 2.5 MB, had made it 'the form fields are too large', as if image_file_b64 were sent the wrong way)."""
    fields = {"image_file_b64": phone_photo_b64}
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        **({"json": fields} if body == "json" else {"data": fields}),  # type: ignore[arg-type]
        timeout=60,
    )
    (error,) = response.json()["errors"]
    assert response.status_code == 403 and error["code"] == "auth_failed", error
    assert error["title"].startswith("authentication required")


B64_PHOTO = base64.b64encode(photo_bytes("astronaut.png", size=(320, 240))).decode()  # ends in "=", holds "+"


@pytest.mark.parametrize(
    "encoded",
    [
        base64.encodebytes(base64.b64decode(B64_PHOTO)).decode(),  # lines, as Ruby's Base64.encode64 or `base64`
        f"data:image/jpeg;base64,{B64_PHOTO}",  # a browser's FileReader.readAsDataURL
        B64_PHOTO.rstrip("="),  # without its closing padding
        B64_PHOTO.replace("+", " "),  # curl -d without --data-urlencode: its '+' signs read as spaces
    ],
    ids=["wrapped", "data-url", "unpadded", "plus-as-space"],
)
def test_base64_as_encoders_write_it_is_cut_out(embedded_server: LiveServer, key: str, encoded: str) -> None:
    assert B64_PHOTO.endswith("=") and "+" in B64_PHOTO
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        data={"image_file_b64": encoded},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert (response.headers["X-Width"], response.headers["X-Height"]) == ("320", "240")


@pytest.mark.parametrize(
    ("fields", "x_type"),
    [
        ({"type_level": "none"}, None),  # remove.bg then sends no X-Type
        ({"type": "person", "type_level": "none"}, None),
        ({"type": "graphic"}, "other"),  # type_level 1, the default, has no class for it
        ({"type": "graphic", "type_level": "2"}, "graphics"),  # remove.bg's word for the class
        ({"type": "transportation", "type_level": "latest"}, "transportation"),
        ({"type": "car", "type_level": "1"}, "car"),
        # X-Type's own classes, which PyPI's removebg lets its callers send as type
        ({"type": "graphics"}, "other"),
        ({"type": "car_interior"}, "car"),
        ({"type": "car_part", "type_level": "2"}, "car_part"),
        ({"type": "other", "type_level": "latest"}, "other"),
        ({"type": " Person\n", "type_level": " 2 "}, "person"),  # white space around it, as every option takes it
    ],
)
def test_x_type_speaks_the_classes_of_the_type_level(
    embedded_server: LiveServer, key: str, fields: dict[str, str], x_type: str | None
) -> None:
    response = send_file(embedded_server, key, PHOTO, fields)
    assert response.status_code == 200, response.text
    assert response.headers.get("X-Type") == x_type


def test_semitransparency_sent_as_remove_bg_s_default_is_taken(embedded_server: LiveServer, key: str) -> None:
    """remove.bg's default is true; a client that sends it explicitly asks for nothing else."""
    response = send_file(embedded_server, key, PHOTO, {"semitransparency": "true"})
    assert response.status_code == 200, response.text


def test_a_client_that_names_no_size_gets_remove_bgs_default_preview(embedded_server: LiveServer, key: str) -> None:
    """remove.bg's default size is preview (at most 0.25 megapixels, 0.25 credits), as clients such as PyPI's
    remove-bg rely on; rembgpy sends roi=0 0 100% 100% (a unit-less 0) with every call, and remove.bg's npm
    client crop_margin with two values."""
    photo = photo_bytes("astronaut.png", size=(1280, 960))
    unnamed = send_file(embedded_server, key, photo, {"roi": "0 0 100% 100%"})
    full = send_file(embedded_server, key, photo, {"size": "auto"})
    margins = send_file(embedded_server, key, photo, {"size": "auto", "crop": "true", "crop_margin": "4px 8px"})
    assert [reply.status_code for reply in (unnamed, full, margins)] == [200] * 3, unnamed.text
    assert unnamed.headers["X-Credits-Charged"] == "0.25" and full.headers["X-Credits-Charged"] == "1"
    with Image.open(io.BytesIO(unnamed.content)) as preview, Image.open(io.BytesIO(full.content)) as whole:
        assert (preview.size, whole.size) == ((577, 433), (1280, 960))
    subject = (int(full.headers["X-Foreground-Width"]), int(full.headers["X-Foreground-Height"]))
    assert (int(margins.headers["X-Width"]), int(margins.headers["X-Height"])) == (subject[0] + 16, subject[1] + 8)


@pytest.mark.parametrize("blank", ["", " "])
def test_a_client_that_sends_every_field_blank_gets_the_defaults(
    embedded_server: LiveServer, key: str, blank: str
) -> None:
    fields = ("size", "type", "format", "channels", "bg_color", "crop", "crop_margin", "scale", "position", "roi")
    response = send_file(embedded_server, key, PHOTO, dict.fromkeys(fields, blank))
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (400, 300))


def test_a_background_file_goes_with_an_image_sent_another_way(embedded_server: LiveServer, key: str) -> None:
    """bg_image_file beside image_file_b64 (or image_url): the background file was taken for a missing image file."""
    red = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(red, "JPEG")
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        data={"image_file_b64": base64.b64encode(PHOTO).decode(), "size": "full"},
        files={"bg_image_file": ("red.jpg", red.getvalue(), "image/jpeg")},
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    with Image.open(io.BytesIO(reply.content)) as image:
        assert (image.format, image.size) == ("JPEG", (400, 300))  # format auto: no transparency left
        red_corner = image.convert("RGB").getpixel((0, 0))
    assert red_corner[0] > 240 and red_corner[1] < 15, red_corner


def test_image_fields_a_client_sends_blank_are_not_images(embedded_server: LiveServer, key: str) -> None:
    """A client that sends each of remove.bg's image fields, blank where unused, as multipart parts without a
    filename: a blank image_file or bg_image_file was read as an empty file, a 400."""
    blank = (None, "")
    reply = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        files={
            "image_file": blank,
            "image_file_b64": (None, base64.b64encode(PHOTO).decode()),
            "image_url": blank,
            "bg_image_file": blank,
            "bg_image_url": blank,
            "size": (None, "full"),
        },
        headers={"X-Api-Key": key},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    with Image.open(io.BytesIO(reply.content)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (400, 300))


@pytest.mark.parametrize(
    ("data", "headers", "status", "code", "title"),
    [
        ({"size": "auto"}, {}, 403, "auth_failed", "authentication required"),
        ({"size": "auto"}, {"X-Api-Key": "bgs_wrong"}, 403, "auth_failed", "invalid API key"),
        (  # the header sent twice, with two keys: one was taken (here, neither worked: "invalid API key")
            {"size": "auto"},
            {"X-Api-Key": "bgs_one, bgs_two"},
            403,
            "auth_failed",
            "2 different API keys were sent (X-Api-Key); send one",
        ),
        ({"size": "auto"}, None, 400, "missing_source", "No image given"),
        ({"image_file_b64": "***"}, None, 400, "invalid_image_file_b64", "not valid base64"),
        ({"image_file_b64": base64.b64encode(b"text").decode()}, None, 400, "failed_to_read_image", "not an image"),
        ({"image_url": "http://127.0.0.1:1/x.jpg"}, None, 400, "failed_image_download", "non-public address"),
        (  # its header is fine, its pixels are not: refused while it is processed
            {"image_file_b64": base64.b64encode(PHOTO[: len(PHOTO) // 2]).decode()},
            None,
            400,
            "failed_to_read_image",
            "truncated or corrupt",
        ),
        (
            {"image_file_b64": "AA==", "bg_image_url": "http://127.0.0.1:1/b.jpg"},
            None,
            400,
            "failed_bg_download",
            "bg_image_url:",  # the error names the field it came from
        ),
        # remove.bg's code for each parameter it names: invalid_<parameter>
        ({"image_file_b64": "AA==", "channels": "rgb"}, None, 400, "invalid_channels", "channels:"),
        ({"image_file_b64": "AA==", "size": "huge"}, None, 400, "invalid_size", "size:"),
        ({"image_file_b64": "AA==", "format": "bmp"}, None, 400, "invalid_format", "format:"),
        ({"image_file_b64": "AA==", "bg_color": "nocolour1"}, None, 400, "invalid_bg_color", "bg_color:"),
        ({"image_file_b64": "AA==", "crop_margin": "60%"}, None, 400, "invalid_crop_margin", "crop_margin:"),
        ({"image_file_b64": "AA==", "roi": "1 2 3"}, None, 400, "invalid_roi", "roi:"),
        ({"image_file_b64": "AA==", "scale": "5%"}, None, 400, "invalid_scale", "scale:"),
        ({"image_file_b64": "AA==", "position": "left"}, None, 400, "invalid_position", "position:"),
        ({"image_file_b64": "AA==", "shadow_opacity": "abc"}, None, 400, "invalid_shadow_opacity", "shadow_opacity:"),
        ({"image_file_b64": "AA==", "image_url": "https://a.example/b.jpg"}, None, 400, "multiple_sources", "one way"),
        (
            {"image_file_b64": "AA==", "bg_color": "fff", "bg_image_url": "https://a.example/b.jpg"},
            None,
            400,
            "multiple_bg_sources",
            "send one background only, not bg_color and bg_image_url",
        ),
        ({"image_file_b64": "AA==", "type": "planet"}, None, 400, "invalid_type", "type:"),
        ({"image_file_b64": "AA==", "type_level": "3"}, None, 400, "invalid_type_level", "type_level:"),
        (
            {"image_file_b64": "AA==", "semitransparency": "false"},
            None,
            400,
            "invalid_semitransparency",
            "semitransparency:",
        ),
    ],
)
def test_errors_have_remove_bg_shape(
    embedded_server: LiveServer, key: str, data: Any, headers: Any, status: int, code: str, title: str
) -> None:
    response = requests.post(
        f"{embedded_server.url}/v1.0/removebg",
        data=data,
        headers={"X-Api-Key": key} if headers is None else headers,
        timeout=30,
    )
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code and title in error["title"]


def test_account(embedded_server: LiveServer, key: str) -> None:
    response = requests.get(f"{embedded_server.url}/v1.0/account", headers={"X-Api-Key": key}, timeout=10)
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert set(attributes["credits"]) == {"total", "subscription", "payg", "enterprise"}
    assert attributes["api"] == {"free_calls": 0, "sizes": "all"}  # every call is paid from the credits
    assert requests.get(f"{embedded_server.url}/v1.0/account", timeout=10).status_code == 403
    head = requests.head(f"{embedded_server.url}/v1.0/account", headers={"X-Api-Key": key}, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Type"] == "application/json"


def test_roi_scale_position_as_remove_bg_names_them(embedded_server: LiveServer, key: str) -> None:
    response = send_file(embedded_server, key, PHOTO, {"roi": "0% 0% 100% 100%", "scale": "50%", "position": "center"})
    assert response.status_code == 200, response.text
    width, height = int(response.headers["X-Foreground-Width"]), int(response.headers["X-Foreground-Height"])
    assert max(width / 400, height / 300) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    ("roi", "code", "title"),
    [
        ("0 0 0 0", "invalid_roi", "roi: the box '0px 0px 0px 0px' has no area"),
        ("500px 500px 400px 400px", "invalid_roi", "roi: the box '500px 500px 400px 400px' has no area"),
        # Empty in this image only: refused once its size is read, before it is cut out or charged; a value of roi
        # all the same, as remove.bg names it (it was failed_to_read_image, as of a file that is no image).
        ("400px 0px 500px 100px", "invalid_roi", "roi: the box 400px 0px 500px 100px holds none of this 400x300"),
        ("50% 0% 100px 100%", "invalid_roi", "roi: the box 50% 0% 100px 100% holds none of this 400x300"),
    ],
)
def test_a_roi_that_holds_none_of_the_image_is_a_400_naming_it(
    embedded_server: LiveServer, key: str, roi: str, code: str, title: str
) -> None:
    """It was clamped to nothing: a 200 with a wholly transparent image, not even flagged."""
    before = credits_left(embedded_server, key)
    response = send_file(embedded_server, key, PHOTO, {"roi": roi})
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code and error["title"].startswith(title), error
    assert credits_left(embedded_server, key) == before


def test_a_roi_partly_outside_the_image_is_clamped_to_it(embedded_server: LiveServer, key: str) -> None:
    response = send_file(embedded_server, key, PHOTO, {"roi": "200px 0px 9999px 150%"})
    assert response.status_code == 200, response.text
    with Image.open(io.BytesIO(response.content)) as cutout:
        alpha = np.asarray(cutout.convert("RGBA").getchannel("A"))
    assert alpha[:, :200].max() == 0 and alpha[:, 200:].max() > 200


def test_zip_format_holds_color_and_alpha(embedded_server: LiveServer, key: str) -> None:
    import zipfile

    response = send_file(embedded_server, key, PHOTO, {"format": "zip"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        assert sorted(bundle.namelist()) == ["alpha.png", "color.jpg"]
        color, alpha = Image.open(bundle.open("color.jpg")), Image.open(bundle.open("alpha.png"))
        assert (color.mode, alpha.mode, color.size, alpha.size) == ("RGB", "L", (400, 300), (400, 300))


def test_a_video_is_refused_before_it_is_cut_out(embedded_server: LiveServer, key: str) -> None:
    """remove.bg's replies carry one image; a video's cutout is a zip of frames (the batch API's)."""
    from tests.cutout.test_video import make_video

    reply = send_file(embedded_server, key, make_video(".mp4", "libx264", frames=3), {})
    assert reply.status_code == 400, reply.text  # was a 500 once the whole clip had been cut out
    (error,) = reply.json()["errors"]
    assert error["code"] == "invalid_file_type" and "the file is a video" in error["title"]
