"""Fuzz the decoding entry point: any bytes give an image or ImageRejected, never another error."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from removal.cutout import pipeline
from tests.conftest import photo_bytes

# Pillow warns about the damage it skips over; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MAX_PIXELS = 4_000_000
SEEDS = [
    photo_bytes("astronaut.png", size=(48, 32)),
    photo_bytes("coffee.png", size=(48, 32), fmt="PNG"),
    photo_bytes("chelsea.png", size=(48, 32), fmt="GIF"),
    photo_bytes("rocket.jpg", size=(48, 32), fmt="WEBP"),
    photo_bytes("rocket.jpg", size=(48, 32), fmt="TIFF"),
    photo_bytes("rocket.jpg", size=(48, 32), fmt="BMP"),
]


def decode_or_reject(data: bytes) -> None:
    try:
        info = pipeline.inspect_image(io.BytesIO(data), max_pixels=MAX_PIXELS)
        image = pipeline.decode_image(data, max_pixels=MAX_PIXELS)
    except pipeline.ImageRejected as exc:
        assert str(exc)  # always says why
        return
    assert image.mode in ("RGB", "RGBA")
    assert (image.width, image.height) == (info.width, info.height)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A real image file with bytes flipped, cut short, or spliced: the likely hostile inputs."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_mutated_images(data: bytes) -> None:
    decode_or_reject(data)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    decode_or_reject(data)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "TIFF", "BMP"])
def test_declared_size_is_checked_before_pixels_are_decoded(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new("L", (2100, 2000)).save(buffer, fmt)
    with pytest.raises(pipeline.ImageRejected, match=r"2100x2000 \(4\.2 megapixels\)"):
        pipeline.decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
