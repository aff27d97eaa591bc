"""Output options: parsing (bad values name their field) and their effect on real cutouts."""

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from removal.cutout import pipeline, stills
from removal.cutout.installed import MEASURED_QUALITY, installed_models
from removal.cutout.option_lists import options_table
from removal.cutout.option_parsing import InvalidOption, is_true
from removal.cutout.options import OPTIONS, Options, parse_options
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from tests.conftest import LiveServer, photo_bytes

PHOTO = photo_bytes("astronaut.png", size=(400, 300))


def parse(**params: Any) -> Options:
    return parse_options(params, default_model="u2netp", models=installed_models(settings.U2NET_HOME))


@pytest.fixture
def default_models_only(settings: Any, tmp_path: Path) -> Path:
    """The model folder as a fresh `make setup` leaves it (u2netp and its int8 copy), whatever
    else this machine has pulled: the replies below name the installed models."""
    folder = tmp_path / "u2net"
    folder.mkdir()
    for name in ("u2netp.onnx", "u2netp-int8.onnx"):
        (folder / name).symlink_to(Path(settings.U2NET_HOME) / name)
    settings.U2NET_HOME = folder
    return folder


def test_defaults_are_a_full_size_transparent_png() -> None:
    options = parse()
    assert (options.format, options.channels, options.bg_color, options.crop, options.model) == (
        "png",
        "rgba",
        None,
        False,
        "u2netp",
    )
    assert Options.from_json(options.to_json()) == options


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"format": "JPEG"}, {"format": "jpg", "bg_color": (255, 255, 255, 255)}),
        ({"format": "webp", "bg_color": "ff0000"}, {"format": "webp", "bg_color": (255, 0, 0, 255)}),
        ({"bg_color": "#00ff0080"}, {"bg_color": (0, 255, 0, 128)}),
        ({"bg_color": "rebeccapurple"}, {"bg_color": (102, 51, 153, 255)}),
        ({"crop": "true", "crop_margin": "10%"}, {"crop": True, "crop_margin": 10, "crop_margin_percent": True}),
        ({"crop": True, "crop_margin": "25px"}, {"crop": True, "crop_margin": 25, "crop_margin_percent": False}),
        ({"crop": False}, {"crop": False}),  # JSON false
        ({"crop_margin": "10px 5%"}, {"crop_margin": 0, "crop_margin_sides": ("10px", "5%", "10px", "5%")}),
        ({"crop_margin": "1 2px  3% 4"}, {"crop_margin_sides": ("1px", "2px", "3%", "4px")}),
        ({"bg_color": "f00c"}, {"bg_color": (255, 0, 0, 204)}),
        ({"roi": "0 0 100% 50%"}, {"roi": ("0px", "0px", "100%", "50%")}),
        ({"roi": "0 0 100% 100%"}, {"roi": ("0px", "0px", "100%", "100%")}),
        ({"roi": "50% 50% 9999px 150%"}, {"roi": ("50%", "50%", "9999px", "150%")}),  # partly outside: clamped
        ({"roi": "50% 0 100px 100%"}, {"roi": ("50%", "0px", "100px", "100%")}),  # empty below 200 pixels wide only
        ({"channels": "alpha"}, {"channels": "alpha"}),
        ({"size": "preview"}, {"size_preview": True, "size_max_pixels": None}),
        ({"size": "regular"}, {"size_preview": True}),
        ({"size": "medium"}, {"size_preview": False, "size_max_pixels": 1_500_000}),
        ({"size": "HD"}, {"size_max_pixels": 4_000_000}),
        ({"size": "4k"}, {"size_preview": False, "size_max_pixels": None, "size_bound": None}),
        ({"size": "800x600"}, {"size_bound": (800, 600)}),
        # remove.bg's format=auto: JPEG where nothing is left transparent, PNG otherwise
        ({"format": "auto"}, {"format": "png", "bg_color": None}),
        ({"format": "auto", "bg_color": "ff0000"}, {"format": "jpg", "bg_color": (255, 0, 0, 255)}),
        ({"format": "auto", "bg_color": "ff000080"}, {"format": "png"}),
        ({"format": "auto", "bg_color": "ff0000", "channels": "alpha"}, {"format": "png"}),
        ({"alpha_matting": "true"}, {"alpha_matting": (240, 10, 10)}),
        (
            {
                "alpha_matting": "1",
                "alpha_matting_foreground_threshold": "255",
                "alpha_matting_background_threshold": "0",
                "alpha_matting_erode_size": "40",
            },
            {"alpha_matting": (255, 0, 40)},
        ),
        ({"alpha_matting": "on", "alpha_matting_foreground_threshold": "0"}, {"alpha_matting": (0, 10, 10)}),
        ({"alpha_matting_erode_size": "5"}, {"alpha_matting": None}),  # its thresholds alone ask for no matting
        ({"scale": "10%"}, {"scale_percent": 10, "position": (50, 50)}),
        ({"scale": "100%", "position": "original"}, {"scale_percent": 100, "position": (50, 50)}),
        ({"position": "center"}, {"position": (50, 50)}),
        ({"position": "original"}, {"position": None}),
        ({"position": "100% 0%"}, {"position": (100, 0)}),
        ({"position": "30%"}, {"position": (30, 30)}),
    ],
)
def test_valid_values(params: dict[str, Any], expected: dict[str, Any]) -> None:
    options = parse(**params)
    for name, value in expected.items():
        assert getattr(options, name) == value
    assert Options.from_json(options.to_json()) == options


@pytest.mark.parametrize("name", sorted({name for option in OPTIONS for name in (option.name, *option.params)}))
def test_an_option_sent_empty_counts_as_not_sent(name: str) -> None:
    """Some clients send every form field they know, blank when not given (`size=`, `channels=`)."""
    assert parse(**{name: ""}) == parse(**{name: "  "}) == parse()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "tiff"}, "format:"),
        ({"bg_color": "nope"}, "bg_color:"),
        ({"crop": "maybe"}, "crop:"),
        ({"crop_margin": "-5"}, "crop_margin:"),
        ({"crop_margin": "80%"}, "crop_margin:"),
        ({"crop_margin": "10px 20px 30px"}, "crop_margin:"),
        ({"crop_margin": "10px 60%"}, "crop_margin:"),
        ({"channels": "rgb"}, "channels:"),
        ({"size": "huge"}, "size:"),
        ({"size": "0x10"}, "size:"),
        ({"model": "isnet-general-use"}, "model: 'isnet-general-use' is not installed; installed: u2netp, u2netp-int8"),
        ({"format": ["png"]}, "format: must be a string"),
        (
            {"alpha_matting": "1", "alpha_matting_erode_size": "41"},
            "alpha_matting_erode_size: .* from 0 to 40, not '41'",
        ),
        ({"alpha_matting": "1", "alpha_matting_background_threshold": "256"}, "alpha_matting_background_threshold:"),
        ({"alpha_matting": "1", "alpha_matting_foreground_threshold": "256"}, "alpha_matting_foreground_threshold:"),
        ({"scale": "9%"}, "scale: must be original or a percentage from 10% to 100%, not '9%'"),
        ({"scale": "101%"}, "scale:"),
        ({"position": "101% 0%"}, "position: must be original, center, or 'X% Y%', not '101% 0%'"),
        ({"position": "0% 101%"}, "position:"),
        ({"add_shadow": "maybe"}, "add_shadow: must be true or false, not 'maybe'"),
        ({"shadow": "2"}, "add_shadow:"),
        # A value is checked with its option off too: a client learns of it now, not once it turns the option on.
        ({"shadow_opacity": "abc"}, "shadow_opacity: must be a whole number from 0 to 100, not 'abc'"),
        ({"add_shadow": "false", "shadow_opacity": "101"}, "shadow_opacity:"),
        ({"alpha_matting_erode_size": "x"}, "alpha_matting_erode_size: must be a whole number from 0 to 40"),
        ({"alpha_matting": "0", "alpha_matting_foreground_threshold": "256"}, "alpha_matting_foreground_threshold:"),
        ({"alpha_matting_background_threshold": "-1"}, "alpha_matting_background_threshold:"),
        # A box with no area in any image: it left a wholly transparent image, not even flagged.
        ({"roi": "0 0 0 0"}, "roi: the box '0px 0px 0px 0px' has no area"),
        ({"roi": "500px 500px 400px 400px"}, "roi: the box .* has no area"),
        ({"roi": "10% 10% 90% 10%"}, "roi: .* has no area"),
        ({"roi": "100% 0% 150% 100%"}, "roi: .* has no area"),  # wholly past the right edge, whatever the size
        ({"roi": "0% 5px 100% 5px"}, "roi: .* has no area"),
    ],
)
def test_invalid_values_name_the_field(params: dict[str, Any], field: str, default_models_only: Path) -> None:
    with pytest.raises(InvalidOption, match=field.replace("(", r"\(")):
        parse(**params)


@pytest.fixture(scope="module")
def session() -> Any:
    return pipeline.thread_session("u2netp", settings.U2NET_HOME)


def run(session: Any, **params: Any) -> tuple[pipeline.Cutout, Image.Image]:
    cutout = pipeline.cut_out(PHOTO, session=session, max_pixels=50_000_000, compress_level=1, options=parse(**params))
    return cutout, Image.open(io.BytesIO(cutout.data))


def test_jpg_on_a_colour(session: Any) -> None:
    cutout, image = run(session, format="jpg", bg_color="ff0000")
    assert (cutout.mime_type, cutout.extension, image.format, image.mode) == ("image/jpeg", "jpg", "JPEG", "RGB")
    corner = np.asarray(image)[:20, :20].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 230 and corner[1] < 30 and corner[2] < 30  # the background is now red


def test_webp_keeps_transparency(session: Any) -> None:
    cutout, image = run(session, format="webp")
    assert (cutout.mime_type, image.format, image.mode) == ("image/webp", "WEBP", "RGBA")
    assert np.asarray(image.getchannel("A"))[:20, :20].max() < 10


def test_alpha_channel_only(session: Any) -> None:
    _, image = run(session, channels="alpha")
    assert image.mode == "L" and image.size == (400, 300)
    mask = np.asarray(image)
    assert mask[:20, :20].max() < 10 and mask[120:180, 170:230].mean() > 200


def test_crop_to_the_subject_with_a_margin(session: Any) -> None:
    _, full = run(session)
    _, cropped = run(session, crop="true")
    _, padded = run(session, crop="true", crop_margin="20px")
    box = full.getchannel("A").getbbox()
    assert box is not None
    assert cropped.size == (box[2] - box[0], box[3] - box[1])
    assert padded.size == (cropped.width + 40, cropped.height + 40)
    assert np.asarray(padded.getchannel("A"))[:20].max() == 0  # the margin is transparent
    _, sides = run(session, crop="true", crop_margin="10px 20px 0 50%")  # top, right, bottom, left
    assert sides.size == (cropped.width + 20 + round(cropped.width / 2), cropped.height + 10)
    assert np.asarray(sides.getchannel("A"))[:10].max() == 0
    assert np.asarray(sides.getchannel("A"))[:, : round(cropped.width / 2)].max() == 0
    _, capped = run(session, crop="true", crop_margin="9999px 0")  # at most 500 px a side, as remove.bg
    assert capped.size == (cropped.width, cropped.height + 1000)


@pytest.mark.parametrize(
    ("size", "expected"),
    [("preview", (577, 433)), ("200x200", (200, 150)), ("2000x2000", (1280, 960)), ("medium", (1280, 960))],
)
def test_size(session: Any, size: str, expected: tuple[int, int]) -> None:
    data = photo_bytes("coffee.png", size=(1280, 960))
    cutout = pipeline.cut_out(data, session=session, max_pixels=50_000_000, compress_level=1, options=parse(size=size))
    assert (cutout.width, cutout.height) == expected
    assert cutout.width * cutout.height <= 250_000 or size != "preview"


@pytest.mark.parametrize(("size", "expected"), [("medium", (1414, 1060)), ("hd", (2309, 1732)), ("full", (2400, 1800))])
def test_remove_bg_older_sizes_cap_the_pixels_and_keep_the_shape(size: str, expected: tuple[int, int]) -> None:
    """remove.bg's "medium" is at most 1.5 megapixels and "hd" at most 4; a 4.3 MP photo is scaled down to them."""
    photo = Image.new("RGB", (2400, 1800))
    fitted = stills.fit_size(photo, parse(size=size))
    assert fitted.size == expected
    assert fitted.width * fitted.height <= {"medium": 1_500_000, "hd": 4_000_000}.get(size, photo.width * photo.height)


@pytest.mark.django_db
def test_batch_options_apply_to_every_item(api: Any) -> None:
    files = [SimpleUploadedFile(f"{name}.jpg", PHOTO) for name in ("a", "b")]
    reply = api.post("/api/v1/batches", {"files": files, "format": "webp", "size": "200x200"})
    assert reply.status_code == 201, reply.content
    run_ready_jobs()
    for item in Item.objects.all():
        assert item.result.name.endswith(".webp")
        with item.result.open("rb") as result, Image.open(result) as image:
            assert image.format == "WEBP" and image.size == (200, 150)
    assert api.get(f"/api/v1/items/{item.id}/result")["Content-Type"] == "image/webp"
    body = b"".join(api.get(reply.json()["zip"]))
    assert sorted(zipfile.ZipFile(io.BytesIO(body)).namelist()) == ["a.webp", "b.webp", "manifest.json"]


@pytest.mark.django_db
def test_the_sites_default_format_applies_where_a_request_names_none(api: Any, settings: Any) -> None:
    settings.DEFAULT_FORMAT = "webp"
    reply = api.post("/api/v1/batches", {"files": [SimpleUploadedFile("a.jpg", PHOTO)]})
    assert reply.status_code == 201, reply.content
    named = api.post("/api/v1/batches", {"files": [SimpleUploadedFile("b.jpg", PHOTO)], "format": "png"})
    run_ready_jobs()
    assert Item.objects.get(batch_id=reply.json()["id"]).result.name.endswith(".webp")
    assert Item.objects.get(batch_id=named.json()["id"]).result.name.endswith(".png")


def test_an_unknown_default_format_stops_the_server_at_start_up(settings: Any) -> None:
    from django.core import checks

    settings.DEFAULT_FORMAT = "bmp"
    errors = [message for message in checks.run_checks() if message.id == "removal.E001"]
    assert len(errors) == 1 and "'bmp'" in errors[0].msg


@pytest.mark.django_db
def test_batch_with_a_bad_option_is_refused(api: Any) -> None:
    reply = api.post("/api/v1/batches", {"files": [SimpleUploadedFile("a.jpg", PHOTO)], "channels": "rgb"})
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("channels:")
    assert not Item.objects.exists()


def test_models_endpoint(client: Any, default_models_only: Path) -> None:
    reply = client.get("/api/v1/models").json()
    assert (reply["models"], reply["default"], reply["qualities"]) == (
        ["u2netp", "u2netp-int8"],
        "u2netp-int8",
        ["fast", "best"],
    )
    measured = json.loads(MEASURED_QUALITY.read_text())
    assert reply["measured"]["photos"] == measured["photos"] >= 40
    assert set(reply["measured"]["models"]) == {"u2netp", "u2netp-int8"} & set(measured["models"])
    figures = reply["measured"]["models"]["u2netp-int8"]
    assert set(figures["fast"]) == {"iou", "mae", "residue", "crop_iou", "ms_per_image"}
    best_partner = measured["models"]["u2netp-int8"]["best"]["partner"]
    assert ("best" in figures) == (best_partner in (None, *reply["models"]))


def test_best_figures_measured_with_a_partner_show_only_where_it_is_installed(tmp_path: Path, monkeypatch: Any) -> None:
    from removal.cutout import installed

    figures = {"iou": 0.8, "mae": 14.0, "residue": 3.0, "crop_iou": 0.8, "ms_per_image": 200}
    measured = {"fast": figures, "best": {**figures, "partner": "u2net-int8"}}
    monkeypatch.setattr(installed, "MEASURED_QUALITY", tmp_path / "measured.json")
    installed.MEASURED_QUALITY.write_text(json.dumps({"photos": 64, "models": {"u2netp-int8": measured}}))
    assert set(installed.measured_quality(["u2netp-int8"])["models"]["u2netp-int8"]) == {"fast"}
    assert set(installed.measured_quality(["u2netp-int8", "u2net-int8"])["models"]["u2netp-int8"]) == {"fast", "best"}


def test_quality_option() -> None:
    assert parse().quality == "fast"
    assert parse(quality="BEST").quality == "best"
    with pytest.raises(InvalidOption, match="quality: must be one of fast, best, not 'max'"):
        parse(quality="max")


@pytest.mark.live
def test_bgremove_options(embedded_server: LiveServer, tmp_path: Path) -> None:
    key = embedded_server.create_user("options")
    reply = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"file": ("a.jpg", PHOTO)},
        data={"key": key, "format": "jpg", "bg_color": "blue", "crop": "true"},
        timeout=60,
    )
    body = reply.json()
    assert (body["mimeType"], body["extension"]) == ("image/jpeg", "jpg")
    blob = requests.post(
        f"{embedded_server.url}/bgremove",
        json={"img": "http://127.0.0.1:9/never", "key": key, "model": "nope"},
        timeout=60,
    )
    assert blob.status_code == 400 and blob.json()["error"].startswith("model: 'nope' is not installed")
    alpha = requests.post(
        f"{embedded_server.url}/bgremove",
        files={"file": ("a.jpg", PHOTO)},
        data={"key": key, "channels": "alpha", "blob": "1"},
        timeout=60,
    )
    assert alpha.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(alpha.content)).mode == "L"


def test_models_are_found_flat_or_in_rembgs_layout(tmp_path: Path) -> None:
    from removal.cutout.installed import model_weights

    (tmp_path / "u2netp.onnx").write_bytes(b"weights")
    nested = tmp_path / "models" / "isnet-general-use" / "isnet-general-use.onnx"
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"weights")
    assert installed_models(tmp_path) == ["isnet-general-use", "u2netp"]
    assert model_weights(tmp_path, "isnet-general-use") == nested
    assert model_weights(tmp_path, "birefnet-general-lite") is None
    options = parse_options({"model": "isnet-general-use"}, default_model="u2netp", models=installed_models(tmp_path))
    assert options.model == "isnet-general-use"


@pytest.mark.django_db
def test_rerun_a_batch_with_new_options_without_uploading(api: Any, other_user: Any, client: Any) -> None:
    from accounts.services import api_key_create

    files = [SimpleUploadedFile(f"{name}.jpg", PHOTO) for name in ("a", "b")]
    first = api.post("/api/v1/batches", {"files": files}).json()
    run_ready_jobs()
    rerun = api.post(f"/api/v1/batches/{first['id']}/rerun", {"format": "jpg", "bg_color": "red"})
    assert rerun.status_code == 201, rerun.content
    body = rerun.json()
    assert body["id"] != first["id"] and body["options"]["format"] == "jpg"
    assert [item["filename"] for item in body["items"]] == ["a.jpg", "b.jpg"]
    run_ready_jobs()
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(api.get(body["zip"]))))
    assert sorted(zipped.namelist()) == ["a.jpg", "b.jpg", "manifest.json"]
    assert Image.open(zipped.open("a.jpg")).format == "JPEG"

    bad = api.post(f"/api/v1/batches/{first['id']}/rerun", {"format": "tiff"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("format:")
    _, other_key = api_key_create(user=other_user, name="x")
    assert client.post(f"/api/v1/batches/{first['id']}/rerun", headers={"X-Api-Key": other_key}).status_code == 404


def animation(frames: int = 3) -> bytes:
    images = [photo((160, 120)) for _ in range(frames)]
    images = [image.rotate(index * 10) for index, image in enumerate(images)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=[80, 120, 200][:frames], loop=0)
    return buffer.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes("astronaut.png", size=size))).convert("RGB")


@pytest.mark.parametrize(("fmt", "pil_format"), [("png", "PNG"), ("webp", "WEBP"), ("gif", "GIF")])
def test_animations_stay_animated_with_every_frame_cut_out(session: Any, fmt: str, pil_format: str) -> None:
    progress: list[tuple[int, int]] = []
    cutout = pipeline.cut_out(
        animation(),
        session=session,
        max_pixels=50_000_000,
        compress_level=1,
        options=parse(format=fmt),
        max_frames=10,
        on_frame=lambda done, total: progress.append((done, total)),
    )
    assert cutout.frames == 3 and progress == [(1, 3), (2, 3), (3, 3)]
    with Image.open(io.BytesIO(cutout.data)) as result:
        assert result.format == pil_format and getattr(result, "n_frames", 1) == 3
        durations = []
        for index in range(3):
            result.seek(index)
            rgba = result.convert("RGBA")
            durations.append(result.info.get("duration"))
            assert np.asarray(rgba.getchannel("A"))[:10, :10].max() < 128, "each frame's background is transparent"
        assert durations == [80, 120, 200]


def test_animation_limits(session: Any) -> None:
    with pytest.raises(pipeline.ImageRejected, match="the animation has 3 frames; the limit is 2"):
        pipeline.cut_out(animation(), session=session, max_pixels=50_000_000, compress_level=1, max_frames=2)
    with pytest.raises(pipeline.ImageRejected, match=r"3 frames of 160x120 \(0\.1 megapixels in all\)"):
        pipeline.cut_out(animation(), session=session, max_pixels=50_000, compress_level=1, max_frames=10)
    still = pipeline.cut_out(
        animation(),
        session=session,
        max_pixels=50_000_000,
        compress_level=1,
        options=parse(format="jpg"),
        max_frames=10,
    )
    assert still.frames == 1 and Image.open(io.BytesIO(still.data)).format == "JPEG"  # JPEG cannot animate


@pytest.mark.django_db
def test_background_image_is_composited_and_part_of_the_options(api: Any) -> None:
    red = io.BytesIO()
    Image.new("RGB", (50, 50), (255, 0, 0)).save(red, "PNG")
    files = [SimpleUploadedFile("a.jpg", PHOTO)]
    reply = api.post(
        "/api/v1/batches", {"files": files, "bg_image": SimpleUploadedFile("red.png", red.getvalue()), "format": "jpg"}
    )
    assert reply.status_code == 201, reply.content
    assert [item["filename"] for item in reply.json()["items"]] == ["a.jpg"]  # the background is not processed
    assert len(reply.json()["options"]["bg_image_sha256"]) == 64
    run_ready_jobs()
    item = Item.objects.get()
    with item.result.open("rb") as result, Image.open(result) as image:
        corner = np.asarray(image.convert("RGB"))[:20, :20].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 230 and corner[1] < 40, "the red background shows where the photo's background was"

    bad = api.post(
        "/api/v1/batches",
        {"files": [SimpleUploadedFile("a.jpg", PHOTO)], "bg_image": SimpleUploadedFile("x.png", b"not an image")},
    )
    assert bad.status_code == 400 and bad.json()["error"].startswith("bg_image: not an image")


def test_alpha_matting_refines_edges(session: Any) -> None:
    options = parse(alpha_matting="true", alpha_matting_erode_size="5")
    assert options.alpha_matting == (240, 10, 5)
    _, plain = run(session)
    _, matted = run(session, alpha_matting="true", alpha_matting_erode_size="5")
    plain_alpha, matted_alpha = np.asarray(plain.getchannel("A")), np.asarray(matted.getchannel("A"))
    assert matted.size == plain.size and not np.array_equal(plain_alpha, matted_alpha)
    assert matted_alpha[:20, :20].max() < 10 and matted_alpha[120:180, 170:230].mean() > 200
    with pytest.raises(InvalidOption, match="alpha_matting_foreground_threshold: must be a whole number from 0 to 255"):
        parse(alpha_matting="1", alpha_matting_foreground_threshold="300")


def test_alpha_matting_of_a_large_image_works_at_a_bounded_size(session: Any, monkeypatch: Any) -> None:
    """Matting takes about 0.5 GB per megapixel (12 MP: 6.9 GB); above MATTING_MAX_PIXELS it runs on a smaller copy."""
    _, whole = run(session, alpha_matting="true", alpha_matting_erode_size="5")
    monkeypatch.setattr(stills, "MATTING_MAX_PIXELS", whole.width * whole.height // 4)
    _, halved = run(session, alpha_matting="true", alpha_matting_erode_size="5")
    whole_alpha, halved_alpha = np.asarray(whole.getchannel("A")), np.asarray(halved.getchannel("A"))
    assert halved.size == whole.size and not np.array_equal(whole_alpha, halved_alpha)
    assert np.mean(np.abs(whole_alpha.astype(int) - halved_alpha)) < 6  # the same matte, at half the resolution


def test_roi_scale_and_position(session: Any) -> None:
    assert parse(roi="0% 0% 100% 100%").roi is None
    with pytest.raises(InvalidOption, match="roi:"):
        parse(roi="10% 10%")
    with pytest.raises(InvalidOption, match="scale:"):
        parse(scale="5%")
    with pytest.raises(InvalidOption, match="position:"):
        parse(position="left")
    assert parse(scale="50%").position == (50, 50)

    _, left_half = run(session, roi="0% 0% 50% 100%")
    alpha = np.asarray(left_half.getchannel("A"))
    assert alpha[:, 200:].max() == 0 and alpha[:, :200].max() > 200  # nothing outside the box

    _, preview = run(session, roi="0px 0px 200px 300px", size="200x150")  # px: the photo's, not the preview's
    alpha = np.asarray(preview.getchannel("A"))
    assert preview.size == (200, 150) and alpha[:, 100:].max() == 0 and alpha[:, :100].max() > 200

    _, small = run(session, scale="40%", position="0% 100%")
    alpha = np.asarray(small.getchannel("A"))
    box = small.getchannel("A").getbbox()
    assert box is not None and small.size == (400, 300)
    assert max((box[2] - box[0]) / 400, (box[3] - box[1]) / 300) == pytest.approx(0.4, abs=0.02)
    assert box[0] == 0 and box[3] == 300  # pushed to the bottom-left corner


def test_drop_shadow(session: Any) -> None:
    assert parse(add_shadow="true").shadow_opacity == 50
    assert parse(add_shadow="true", shadow_opacity="80").shadow_opacity == 80
    assert parse(shadow_type="drop").shadow_opacity == 50  # remove.bg's shadow_type asks for one too
    assert parse(shadow_type="None").shadow_opacity is None  # remove.bg's default, which clients send: no shadow
    with pytest.raises(InvalidOption, match="shadow_opacity:"):
        parse(add_shadow="true", shadow_opacity="150")
    with pytest.raises(InvalidOption, match="shadow_opacity: must be a whole number from 0 to 100, not '²'"):
        parse(add_shadow="true", shadow_opacity="²")  # a digit to str.isdigit, which int() refuses
    _, plain = run(session)
    _, shaded = run(session, add_shadow="true", shadow_opacity="80")
    plain_alpha, shaded_alpha = np.asarray(plain.getchannel("A")), np.asarray(shaded.getchannel("A"))
    assert (shaded_alpha >= plain_alpha).all() and shaded_alpha.sum() > plain_alpha.sum() * 1.01
    shadow_only = (shaded_alpha > 0) & (plain_alpha == 0)
    assert shadow_only.any() and np.asarray(shaded.convert("RGB"))[shadow_only].max() < 60  # dark, not coloured


def test_drop_shadow_on_an_image_thinner_than_the_shadows_reach(session: Any) -> None:
    # The shadow reaches 2 % of the longer side: 16 px here, more than the whole height.
    banner = photo_bytes("rocket.jpg", size=(800, 8))
    cutout = pipeline.cut_out(
        banner, session=session, max_pixels=50_000_000, compress_level=1, options=parse(add_shadow="true")
    )
    assert Image.open(io.BytesIO(cutout.data)).size == (800, 8)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"roi": "10% 10% 90% 90%"}, "roi"),
        ({"scale": "50%"}, "scale, position"),  # a scaled subject is also centred
        ({"position": "center"}, "position"),
        ({"crop": "true", "crop_margin": "10px"}, "crop_margin"),
    ],
)
def test_options_that_cannot_apply_to_an_animation_are_refused_by_name(
    api: Any, params: dict[str, str], named: str
) -> None:
    reply = api.post("/api/v1/batches", {"files": [SimpleUploadedFile("a.gif", animation())], **params})
    assert reply.status_code == 400
    assert reply.json()["error"] == f"a.gif: {named}: cannot apply to an animation " + (
        "(every frame is cut out as it is); leave " + ("them" if "," in named else "it") + " out"
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"roi": "10% 10% 90% 90%"}, "invalid_roi"),
        ({"scale": "50%", "position": "20% 30%"}, "invalid_scale"),  # the first it names
        ({"crop": "true", "crop_margin": "10px"}, "invalid_crop_margin"),
    ],
)
def test_an_option_an_animation_cannot_take_is_an_option_refusal_at_each_front_door(
    api: Any, params: dict[str, str], code: str
) -> None:
    """remove.bg's door answered failed_to_read_image, the code of a file that is no image: a client could not tell
    an option it must leave out from a broken file. PixLab's /bgremove and the batch API keep their own shapes."""
    named = code.removeprefix("invalid_")
    removebg = api.post("/v1.0/removebg", {"image_file": SimpleUploadedFile("a.gif", animation()), **params})
    assert removebg.status_code == 400
    (error,) = removebg.json()["errors"]
    assert error["code"] == code and error["title"].startswith(f"{named}") and "animation" in error["title"]
    pixlab = api.post("/bgremove", {"file": SimpleUploadedFile("a.gif", animation()), **params})
    assert pixlab.status_code == 400 and set(pixlab.json()) == {"status", "error"}
    assert pixlab.json()["error"] == error["title"]
    batch = api.post("/api/v1/batches", {"files": [SimpleUploadedFile("a.gif", animation())], **params})
    assert batch.status_code == 400 and batch.json()["error"] == f"a.gif: {error['title']}"
    assert batch.json()["rejected"] == [{"filename": "a.gif", "error": error["title"]}]


def test_an_animation_sent_as_a_still_format_takes_every_option(api: Any) -> None:
    """jpg takes the first frame, a still image: roi applies to it."""
    files = {"files": [SimpleUploadedFile("a.gif", animation())], "format": "jpg", "roi": "10% 10% 90% 90%"}
    assert api.post("/api/v1/batches", files).status_code == 201


def test_the_option_table_of_the_docs_is_the_declaration() -> None:
    docs = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text()
    assert options_table() in docs, "docs/api.md's option table differs from removal.cutout.options.OPTIONS"


def test_every_options_field_is_set_by_a_declared_option() -> None:
    declared = {name for option in OPTIONS for name in option.fields}
    assert declared == {field.name for field in dataclasses.fields(Options)}


def test_results_are_reused_across_a_new_option_field(user: Any) -> None:
    """A batch stored before a field existed (no key for it) has that field's default: its results still count."""
    from removal import services
    from removal.models import Batch

    def submit(options_json: dict[str, Any]) -> Item:
        batch = services.batch_create(owner=user)
        Batch.objects.filter(pk=batch.pk).update(options=options_json)
        batch.refresh_from_db()
        upload = SimpleUploadedFile("same.jpg", photo_bytes("coffee.png", size=(160, 120)))
        return services.batch_add_files(batch=batch, files=[upload])[0][0]

    older = Options(model="u2netp").to_json()
    del older["quality"]  # as stored before quality existed
    submit(older)
    assert run_ready_jobs() == 1
    assert submit(Options(model="u2netp").to_json()).cached
    assert not submit(Options(model="u2netp", quality="best").to_json()).cached


def test_auto_format_is_jpeg_under_a_background_image() -> None:
    options = parse_options(
        {"format": "auto"}, default_model="u2netp", models=installed_models(settings.U2NET_HOME), background=True
    )
    assert options.format == "jpg"


def test_is_true_reads_yes_words_in_any_case_and_json_true() -> None:
    assert [is_true(value) for value in ("1", " TRUE ", "yes", "On", True)] == [True] * 5
    assert [is_true(value) for value in ("0", "false", "no", "", "maybe", False, None)] == [False] * 7
