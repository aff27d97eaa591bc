"""removal.cutout.pipeline on real photos: the cutout is transparent where the background was."""

import io
import struct
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image, ImageCms

from removal.cutout import cores, pipeline, providers, thumbnails
from removal.cutout.cores import counted_awaited, counted_in_progress
from removal.cutout.options import Options
from tests.conftest import REPO, photo_bytes

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="session")
def session() -> object:
    return pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)


def cut_out(data: bytes, session: object) -> np.ndarray:
    cutout = pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)
    with Image.open(io.BytesIO(cutout.data)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert (image.width, image.height) == (cutout.width, cutout.height)
        return np.asarray(image)


def corners(alpha: np.ndarray) -> np.ndarray:
    h, w = alpha.shape
    return np.concatenate([alpha[: h // 10, : w // 10].ravel(), alpha[: h // 10, -w // 10 :].ravel()])


def centre(alpha: np.ndarray) -> np.ndarray:
    h, w = alpha.shape
    return alpha[h * 3 // 8 : h * 5 // 8, w * 3 // 8 : w * 5 // 8]


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png"])
def test_cutout_is_transparent_around_the_subject_and_opaque_on_it(name: str, session: object) -> None:
    pixels = cut_out(photo_bytes(name), session)
    alpha = pixels[..., 3]
    assert corners(alpha).mean() < 5, "the top corners are background"
    assert centre(alpha).mean() > 200, "the centre is the subject"
    assert (alpha == 0).mean() > 0.2
    assert (alpha >= 250).mean() > 0.2
    # Fully transparent pixels carry no colour (smaller files, no halo when scaled).
    assert not pixels[alpha == 0, :3].any()


def test_subject_keeps_its_colours(session: object) -> None:
    """Opaque pixels keep the photo's colours; only soft edge pixels are decontaminated (test_refine.py)."""
    original = np.asarray(Image.open(io.BytesIO(photo_bytes("coffee.png", fmt="PNG"))).convert("RGB"))
    pixels = cut_out(photo_bytes("coffee.png", fmt="PNG"), session)
    opaque = pixels[..., 3] == 255
    assert opaque.sum() > 0.2 * opaque.size
    assert np.array_equal(pixels[opaque, :3], original[opaque])


def test_exif_orientation_is_applied(session: object) -> None:
    upright = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(400, 300)))).convert("RGB")
    # Stored rotated, with orientation 6 ("rotate 90° clockwise to display").
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif, quality=95)

    decoded = pipeline.decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
    assert decoded.size == (400, 300)
    pixels = cut_out(buffer.getvalue(), session)
    assert pixels.shape[:2] == (300, 400)


def test_existing_transparency_is_kept(session: object) -> None:
    image = Image.open(io.BytesIO(photo_bytes("coffee.png"))).convert("RGBA")
    alpha = np.full((image.height, image.width), 255, dtype=np.uint8)
    alpha[:, : image.width // 2] = 0
    image.putalpha(Image.fromarray(alpha))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    pixels = cut_out(buffer.getvalue(), session)
    assert not pixels[:, : image.width // 2, 3].any()
    # A hand-edited mask that shows everything keeps it too.
    edited = pipeline.recompose(
        buffer.getvalue(), Image.new("L", image.size, 255), max_pixels=MAX_PIXELS, compress_level=1
    )
    recomposed = np.asarray(Image.open(io.BytesIO(edited.data)))
    assert not recomposed[:, : image.width // 2, 3].any() and recomposed[:, image.width // 2 :, 3].all()


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16"])
def test_other_colour_modes_are_converted(mode: str, session: object) -> None:
    image = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(256, 256)))).convert("RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    else:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "TIFF" if mode in ("CMYK", "I;16") else "PNG")
    decoded = pipeline.decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
    assert decoded.mode in ("RGB", "RGBA")
    if mode == "I;16":
        # Scaled to 8 bits, not clipped to white.
        assert 30 < np.asarray(decoded).mean() < 220
    assert cut_out(buffer.getvalue(), session).shape == (256, 256, 4)


# An RGB colour profile (LittleCMS's sRGB; a phone's Display P3 or a camera's Adobe RGB is carried alike).
RGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo_in_profile(size: tuple[int, int], profile: bytes = RGB_PROFILE) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo_bytes("coffee.png", size=size))).save(buffer, "JPEG", quality=95, icc_profile=profile)
    return buffer.getvalue()


def profile_of(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data)) as image:
        return image.info.get("icc_profile")


@pytest.mark.parametrize(
    ("size", "fmt"),
    [((400, 300), "png"), ((1280, 960), "png"), ((400, 300), "webp"), ((400, 300), "jpg"), ((400, 300), "zip")],
)
def test_a_photos_colour_profile_goes_with_its_cutout(size: tuple[int, int], fmt: str, session: object) -> None:
    """Read without its profile, a wide-gamut photo's cutout looks duller than the photo. Both PNG encoders (Pillow's
    below 0.5 MP, png.py's above) carry it, with the same pixels as without."""
    options = Options(format=fmt, bg_color=(255, 255, 255, 255) if fmt == "jpg" else None)
    cutout = pipeline.cut_out(
        photo_in_profile(size), session=session, max_pixels=MAX_PIXELS, compress_level=1, options=options
    )
    result = zipfile.ZipFile(io.BytesIO(cutout.data)).read("color.jpg") if fmt == "zip" else cutout.data
    assert profile_of(result) == RGB_PROFILE
    if fmt == "png":
        plain = pipeline.cut_out(photo_in_profile(size, b""), session=session, max_pixels=MAX_PIXELS, compress_level=1)
        assert profile_of(plain.data) is None
        assert np.array_equal(
            np.asarray(Image.open(io.BytesIO(cutout.data))), np.asarray(Image.open(io.BytesIO(plain.data)))
        )


def printer_profile(lab: tuple[int, int, int]) -> bytes:
    """An ICC v2 CMYK printer profile (LittleCMS reads it) whose every ink mix prints as one Lab colour, given as
    lut8 bytes: L * 255 / 100, a + 128, b + 128. Its A2B0 table: 4 inputs, 3 outputs, 2 grid points a side."""

    def s15(value: float) -> bytes:  # ICC's s15Fixed16Number
        return struct.pack(">i", round(value * 65536))

    d50 = s15(0.9642) + s15(1.0) + s15(0.8249)
    lut = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut += bytes(range(256)) * 4 + bytes(lab) * 2**4 + bytes(range(256)) * 3
    tags = [(b"A2B0", lut), (b"wtpt", b"XYZ " + bytes(4) + d50)]
    offset, table, data = 128 + 4 + 12 * len(tags), struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body + bytes(-len(body) % 4)
    header = struct.pack(">I", offset + len(data)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"prtrCMYKLab " + bytes(12)
    header += b"acsp" + bytes(28) + d50 + bytes(48)
    return header + table + data


def test_a_cmyk_photo_is_read_through_its_profile() -> None:
    """Cyan ink is (0, 255, 255) to Pillow's convert("RGB"); through a profile that prints every mix as mid grey
    (L 50: sRGB 119), it is that grey."""
    buffer = io.BytesIO()
    Image.new("CMYK", (64, 48), (255, 0, 0, 0)).save(
        buffer, "JPEG", quality=100, icc_profile=printer_profile((128, 128, 128))
    )
    decoded = pipeline.decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
    assert decoded.mode == "RGB" and decoded.info["icc_profile"][16:20] == b"RGB "  # LittleCMS's sRGB now
    assert np.abs(np.asarray(decoded, dtype=int) - 119).max() <= 2
    unreadable = printer_profile((128, 128, 128))[:200]  # cut short: Pillow's conversion, as without one
    Image.new("CMYK", (64, 48), (255, 0, 0, 0)).save(
        buffer := io.BytesIO(), "JPEG", quality=100, icc_profile=unreadable
    )
    assert pipeline.decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS).getpixel((0, 0)) == (0, 255, 255)


def test_a_profile_that_is_not_rgb_and_an_alpha_only_result_carry_none(session: object) -> None:
    """A CMYK or grey profile does not describe the RGB image decoding makes; an alpha channel has no colours."""
    grey_profile = RGB_PROFILE[:16] + b"GRAY" + RGB_PROFILE[20:]  # the ICC header's colour space
    cutout = pipeline.cut_out(
        photo_in_profile((400, 300), grey_profile), session=session, max_pixels=MAX_PIXELS, compress_level=1
    )
    assert profile_of(cutout.data) is None
    alpha_only = pipeline.cut_out(
        photo_in_profile((1280, 960)),
        session=session,
        max_pixels=MAX_PIXELS,
        compress_level=1,
        options=Options(channels="alpha"),
    )
    assert profile_of(alpha_only.data) is None and profile_of(alpha_only.mask_png or b"") is None


def test_a_hand_edited_cutout_and_the_editors_photo_keep_the_profile() -> None:
    photo = photo_in_profile((1280, 960))
    edited = pipeline.recompose(photo, Image.new("L", (1280, 960), 255), max_pixels=MAX_PIXELS, compress_level=1)
    assert profile_of(edited.data) == RGB_PROFILE
    assert profile_of(thumbnails.display_of_file(photo, max_pixels=MAX_PIXELS)) == RGB_PROFILE
    assert profile_of(thumbnails.thumbnail_of_file(photo, max_pixels=MAX_PIXELS)) is None  # a card's: a few KB


def test_inspect_reads_format_and_size_only() -> None:
    info = pipeline.inspect_image(io.BytesIO(photo_bytes("chelsea.png")), max_pixels=MAX_PIXELS)
    assert (info.format, info.width, info.height) == ("JPEG", 451, 300)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "not an image"),
    ],
)
def test_non_images_are_rejected_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(pipeline.ImageRejected, match=message):
        pipeline.inspect_image(io.BytesIO(data), max_pixels=MAX_PIXELS)


def test_truncated_image_is_rejected_when_decoded() -> None:
    data = photo_bytes("astronaut.png")
    with pytest.raises(pipeline.ImageRejected, match="truncated or corrupt"):
        pipeline.decode_image(data[: len(data) // 2], max_pixels=MAX_PIXELS)


def test_too_many_pixels_is_rejected_before_decoding() -> None:
    # A 20000x20000 PNG header with almost no data: a decompression bomb.
    image = Image.new("1", (20000, 20000))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(pipeline.ImageRejected, match=r"400\.0 megapixels"):
        pipeline.inspect_image(io.BytesIO(buffer.getvalue()), max_pixels=MAX_PIXELS)
    with pytest.raises(pipeline.ImageRejected, match="megapixels"):
        pipeline.decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)


def test_unsupported_format_is_named() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PPM")
    with pytest.raises(pipeline.ImageRejected, match="PPM images are not supported"):
        pipeline.inspect_image(buffer, max_pixels=MAX_PIXELS)


def test_missing_weights_are_reported_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(pipeline.ModelNotInstalled, match="make setup"):
        pipeline.create_session("u2netp", tmp_path)


# What a worker thread does before its first job (removal.ops.worker), then that job: a still and its thumbnail.
WARM_UP_THEN_A_CUTOUT = """
import sys
from pathlib import Path
from removal.cutout import pipeline
pipeline.load()
session = pipeline.model_session(sys.argv[1], Path(sys.argv[2]))
warm = set(sys.modules)
pipeline.cut_out(sys.stdin.buffer.read(), session=session, max_pixels=50_000_000, compress_level=1, thumbnail=True)
print(sorted(set(sys.modules) - warm))
print(sorted(name for name in sys.modules if name.startswith("PIL.") and name.endswith("ImagePlugin")))
"""


def test_the_first_cutout_after_the_warm_up_loads_nothing_more() -> None:
    """The worker's warm-up loads what a cutout runs, so the first job does not pay for it: SciPy's ndimage (0.55 s of
    CPU, which the first job loaded) among them. And Pillow loads the formats we read and write, not all of them
    (Image.init: 0.1 s, which the first WebP thumbnail paid). A fresh interpreter, as a worker process starts."""
    done = subprocess.run(
        [sys.executable, "-c", WARM_UP_THEN_A_CUTOUT, settings.REMBG_MODEL, str(settings.U2NET_HOME)],
        cwd=REPO,
        input=photo_bytes("astronaut.png"),
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    loaded_by_the_cutout, format_plugins = done.stdout.decode().splitlines()
    assert loaded_by_the_cutout == "['PIL.PpmImagePlugin']"  # at Pillow's first open (Image.preinit), a 1 ms module
    # The formats decode.py registers (those we accept and write), and PPM, which Pillow's preinit adds.
    registered = ["Avif", "Bmp", "Gif", "Jpeg", "Mpo", "Png", "Ppm", "Tiff", "WebP"]
    assert format_plugins == str([f"PIL.{name}ImagePlugin" for name in registered])


def test_each_thread_gets_its_own_session_and_keeps_it() -> None:
    seen: list[object] = []

    def grab() -> None:
        first = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
        assert pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME) is first
        seen.append(first)

    threads = [threading.Thread(target=grab) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2 and seen[0] is not seen[1]


def test_inspect_reports_the_displayed_size_of_rotated_photos() -> None:
    stored = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(400, 300))))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif)
    info = pipeline.inspect_image(buffer, max_pixels=MAX_PIXELS)
    assert (info.width, info.height) == (300, 400)


class RecordingSession:
    """A real session that notes, under `name`, each image it runs."""

    def __init__(self, session: object, name: str, used: list[str]) -> None:
        self.session, self.name, self.used = session, name, used

    def predict(self, image: Image.Image, **options: object) -> object:
        self.used.append(self.name)
        return self.session.predict(image, **options)  # type: ignore[attr-defined]


def test_an_image_alone_runs_on_every_core_and_concurrent_ones_each_on_one() -> None:
    sessions = pipeline.ModelSessions(settings.REMBG_MODEL, settings.U2NET_HOME, solo_threads=2)
    used: list[str] = []
    single, solo = sessions.single, sessions.solo
    sessions.single, sessions.solo = RecordingSession(single, "single", used), RecordingSession(solo, "solo", used)
    data = photo_bytes("coffee.png")

    alone = cut_out(data, sessions)
    with counted_awaited():  # a synchronous call awaits this cutout, alone
        cut_out(data, sessions)
    with counted_in_progress():  # another image in progress in this process
        beside_another = cut_out(data, sessions)
    with counted_awaited(), counted_awaited():  # and another call's cutout is on its way
        cut_out(data, sessions)

    assert used == ["solo", "solo", "single", "single"]
    # Same model, same weights: the number of threads changes only float rounding.
    assert np.abs(alone.astype(int) - beside_another.astype(int)).max() <= 2
    assert pipeline.ModelSessions(settings.REMBG_MODEL, settings.U2NET_HOME, solo_threads=2).solo is solo


def test_a_cutout_that_starts_between_another_clients_reply_and_its_next_call_runs_on_one_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two clients, each sending its next image once its reply is in: the solo session's threads would share the two
    # cores with the next call's cutout for the rest of the run, three threads to two, slowing both.
    sessions = pipeline.ModelSessions(settings.REMBG_MODEL, settings.U2NET_HOME, solo_threads=2)
    used: list[str] = []
    sessions.single = RecordingSession(sessions.single, "single", used)
    sessions.solo = RecordingSession(sessions.solo, "solo", used)
    data = photo_bytes("coffee.png")
    with counted_awaited():
        with counted_awaited():  # the other client's call, answered
            pass
        cut_out(data, sessions)
        monkeypatch.setattr(cores, "CROWDED_MEMORY_SECONDS", 0.0)  # the other client sent nothing more for a while
        cut_out(data, sessions)
    assert used == ["single", "solo"]


def test_solo_threads_one_keeps_every_image_on_its_thread_session() -> None:
    sessions = pipeline.ModelSessions(settings.REMBG_MODEL, settings.U2NET_HOME, solo_threads=1)
    assert sessions.solo is None
    used: list[str] = []
    sessions.single = RecordingSession(sessions.single, "single", used)
    cut_out(photo_bytes("coffee.png"), sessions)
    assert used == ["single"]


@pytest.fixture
def shared_layout() -> Iterator[None]:
    """ORT_LAYOUT=shared, as `auto` chooses on a GPU; this machine has only the CPU."""
    providers.configure(["auto"], layout="shared")
    yield
    providers.configure(["auto"])


def test_on_the_shared_layout_every_thread_runs_the_process_one_session(shared_layout: None) -> None:
    seen: list[object] = []

    def grab() -> None:
        seen.append(pipeline.model_session(settings.REMBG_MODEL, settings.U2NET_HOME))

    threads = [threading.Thread(target=grab) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2]
    assert pipeline.best_partner("best", settings.REMBG_MODEL, "u2netp", settings.U2NET_HOME) is (
        pipeline.model_session("u2netp", settings.U2NET_HOME)
    )


def test_the_shared_layout_cuts_out_what_the_per_thread_layout_does(shared_layout: None, session: object) -> None:
    data = photo_bytes("coffee.png")
    shared = pipeline.model_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    assert shared is not session
    assert (cut_out(data, shared) == cut_out(data, session)).all()


class SessionWithoutMeanwhile:
    """A session whose predict takes no `meanwhile`, as rembg's own sessions ignore it."""

    def __init__(self, session: object) -> None:
        self.session = session

    def predict(self, image: Image.Image, **_: object) -> object:
        return self.session.predict(image)  # type: ignore[attr-defined]


def test_a_session_that_never_starts_the_work_beside_its_run_gives_the_same_cutout_and_thumbnails(
    session: object,
) -> None:
    data = photo_bytes("coffee.png")
    made = [
        pipeline.cut_out(data, session=each, max_pixels=MAX_PIXELS, compress_level=1, thumbnail=True)
        for each in (session, SessionWithoutMeanwhile(session))
    ]
    assert made[0].data == made[1].data and made[0].mask_png == made[1].mask_png
    assert made[0].thumbnail == made[1].thumbnail and made[0].original_thumbnail == made[1].original_thumbnail
    assert made[1].original_thumbnail is not None
