"""removal.cutout.thumbnails: the cards' small WebPs of cutouts and photos."""

import io

import numpy as np
import pytest
from django.conf import settings
from PIL import Image, ImageDraw, ImageFilter

from removal.cutout import pipeline, thumbnails
from tests.conftest import photo_bytes

SIDE = thumbnails.THUMBNAIL_SIDE


@pytest.fixture(scope="module")
def session() -> object:
    return pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    image.load()
    return image


def cutout_like(size: tuple[int, int]) -> Image.Image:
    """A real photo made transparent around a soft-edged subject, its colour zeroed where alpha is 0 (as
    the pipeline's cutouts are)."""
    photo = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=size))).convert("RGB")
    alpha = Image.new("L", size, 0)
    ImageDraw.Draw(alpha).ellipse((size[0] // 5, size[1] // 6, size[0] * 3 // 4, size[1] * 5 // 6), fill=255)
    alpha = alpha.filter(ImageFilter.GaussianBlur(max(size) / 150))
    pixels = np.dstack([np.asarray(photo), np.asarray(alpha)])
    pixels[pixels[..., 3] == 0, :3] = 0
    return Image.fromarray(pixels)


@pytest.mark.parametrize("size", [(1280, 960), (4032, 3024), (900, 2000)])
def test_a_cutout_shrinks_to_fit_with_its_alpha_and_colours_as_if_every_pixel_were_averaged(
    size: tuple[int, int],
) -> None:
    cutout = cutout_like(size)
    small = opened(thumbnails.thumbnail(cutout))
    assert max(small.size) == SIDE
    assert abs(small.width / small.height - size[0] / size[1]) < 0.02
    assert small.mode == "RGBA"
    exact = cutout.copy()
    exact.thumbnail(small.size, Image.Resampling.BOX, reducing_gap=None)  # premultiplied, every pixel
    exact = exact.resize(small.size)
    encoded = io.BytesIO()
    exact.save(encoded, "WEBP", quality=thumbnails.WEBP_QUALITY, method=thumbnails.WEBP_METHOD)
    truth = np.asarray(exact, dtype=np.float32)
    ours, webp_of_exact = (np.asarray(image, dtype=np.float32) for image in (small, opened(encoded.getvalue())))
    assert np.abs(ours[..., 3] - truth[..., 3]).mean() < 1
    # Sampling first costs within a level more than WebP's own loss on the subject, and a few levels where it
    # fades out (where a fringe of colour divided by a small alpha would be off by a hundred).
    for where, more in ((truth[..., 3] > 32, 1), ((truth[..., 3] > 8) & (truth[..., 3] < 128), 3)):
        webp_loss = np.abs(webp_of_exact[..., :3] - truth[..., :3])[where].mean()
        assert np.abs(ours[..., :3] - truth[..., :3])[where].mean() < webp_loss + more


def test_a_small_image_is_never_enlarged() -> None:
    small = opened(thumbnails.thumbnail(Image.new("RGB", (120, 80), (10, 200, 30))))
    assert small.size == (120, 80)


def test_a_jpeg_is_decoded_small_and_turned_by_its_exif_orientation() -> None:
    stored = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(4000, 3000)))).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif, quality=90)
    small = opened(thumbnails.thumbnail_of_file(buffer.getvalue(), max_pixels=50_000_000))
    assert small.size == (192, 256)


@pytest.mark.parametrize("data", [b"not an image", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64])
def test_what_is_not_a_still_image_is_refused(data: bytes) -> None:
    with pytest.raises(pipeline.ImageRejected):
        thumbnails.thumbnail_of_file(data, max_pixels=50_000_000)


def test_a_still_cutout_comes_with_its_thumbnail_only_when_asked(session: object) -> None:
    data = photo_bytes("astronaut.png", size=(640, 480))
    plain = pipeline.cut_out(data, session=session, max_pixels=50_000_000, compress_level=1)
    asked = pipeline.cut_out(data, session=session, max_pixels=50_000_000, compress_level=1, thumbnail=True)
    assert plain.thumbnail is None and asked.data == plain.data
    small = opened(asked.thumbnail)
    result = Image.open(io.BytesIO(asked.data))
    assert small.size == (256, 192)
    expected = np.asarray(result.getchannel("A").resize(small.size, Image.Resampling.BOX), dtype=np.float32)
    assert np.abs(np.asarray(small.getchannel("A"), dtype=np.float32) - expected).mean() < 3
