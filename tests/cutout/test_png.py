"""removal.cutout.png: PNGs that Pillow reads back pixel for pixel, smaller than Pillow's own at level 1."""

import io

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from removal.cutout import png
from tests.conftest import photo_bytes


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def cutout() -> Image.Image:
    """A real photo at 2000x1500 made transparent around a soft-edged ellipse (several strips' worth)."""
    photo = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=(2000, 1500)))).convert("RGB")
    rows, cols = np.mgrid[0:1500, 0:2000]
    distance = np.hypot((rows - 750) / 600, (cols - 1000) / 800)
    alpha = (np.clip((1.05 - distance) * 2000, 0, 255)).astype(np.uint8)
    photo.putalpha(Image.fromarray(alpha))
    pixels = np.asarray(photo).copy()
    pixels[alpha == 0] = 0
    return Image.fromarray(pixels)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (3, 2), (640, 480), (1000, 600)])
def test_every_pixel_reads_back(cutout: Image.Image, mode: str, size: tuple[int, int]) -> None:
    image = cutout.resize(size).convert(mode)
    back = decoded(png.encode(image))
    assert back.mode == mode and back.size == size
    assert np.array_equal(np.asarray(back), np.asarray(image))


def test_a_large_cutout_deflated_in_strips_reads_back_and_is_smaller_than_pillows(cutout: Image.Image) -> None:
    data = png.encode(cutout)
    assert len(cutout.tobytes()) > png.STRIP_BYTES * 2  # more than one strip when there are cores for them
    assert np.array_equal(np.asarray(decoded(data)), np.asarray(cutout))
    pillow = io.BytesIO()
    cutout.save(pillow, "PNG", compress_level=1)
    assert len(data) < len(pillow.getvalue())


@pytest.mark.parametrize("size", [(700_000, 1), (350_000, 3), (600, 4000)])
def test_strips_of_rows_join_into_one_stream_whatever_the_shape(size: tuple[int, int]) -> None:
    """Few rows of many bytes (fewer rows than strips would be) and many short rows: each strip a band of rows,
    all but the last ended by a sync flush, and the stream's checksum over every filtered row."""
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    pixels[:, : size[0] // 3] = 0  # a transparent part beside the noise: strips of uneven cost
    image = Image.fromarray(pixels)
    assert np.array_equal(np.asarray(decoded(png.encode(image))), pixels)


def test_modes_without_an_8_bit_colour_type_go_through_pillow(cutout: Image.Image) -> None:
    for image in (cutout.convert("P"), cutout.convert("1"), cutout.convert("I;16")):
        back = decoded(png.encode(image))
        assert back.mode == image.mode
        assert np.array_equal(np.asarray(back), np.asarray(image))


def test_the_server_encodes_at_the_default_level() -> None:
    """What the bench's in-process ceiling encodes at (png.DEFAULT_LEVEL) is what the server serves."""
    assert settings.PNG_COMPRESS_LEVEL == png.DEFAULT_LEVEL


def test_a_small_cutout_goes_through_pillows_per_row_filters(cutout: Image.Image) -> None:
    small = cutout.resize((640, 480))
    data = png.encode(small)
    pillow = io.BytesIO()
    small.save(pillow, "PNG", compress_level=png.SMALL_LEVEL)
    assert data == pillow.getvalue()
