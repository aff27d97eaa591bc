"""removal.cutout.views: NumPy views of Pillow images' memory, read and written without a copy."""

import gc
import io

import numpy as np
import pytest
from PIL import Image

from removal.cutout import refine, views
from tests.conftest import photo_bytes


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes("chelsea.png", size=(900, 600)))).convert("RGBA")


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_a_view_holds_the_images_pixels_without_a_copy(photo: Image.Image, mode: str) -> None:
    image = photo.convert(mode)
    view = views.pixels(image)
    assert np.array_equal(view, np.asarray(image))
    assert not view.flags.owndata and not view.flags.writeable
    image.paste(0, (0, 0, 10, 10))  # Pillow's own write shows through the view: the same memory
    assert view[:10, :10].max() == 0


def test_writes_through_a_writable_view_change_the_image(photo: Image.Image) -> None:
    image = photo.copy()
    view = views.writable_pixels(image)
    assert view is not None and view.shape == (600, 900, 4)
    view[5, 7] = (1, 2, 3, 4)
    assert image.getpixel((7, 5)) == (1, 2, 3, 4)


def test_a_view_keeps_the_memory_alive_after_the_image_is_gone(photo: Image.Image) -> None:
    image = photo.convert("L")
    expected = np.array(image)
    view = views.pixels(image)
    del image
    gc.collect()
    Image.new("L", (900, 600), 77).load()  # would reuse freed memory
    assert np.array_equal(view, expected)


def test_other_modes_and_shared_memory_are_copied_or_refused(photo: Image.Image) -> None:
    rgb = photo.convert("RGB")
    assert np.array_equal(views.pixels(rgb), np.asarray(rgb))  # RGB: 3 channels, a copy
    assert views.writable_pixels(rgb) is None
    shared = Image.fromarray(np.zeros((4, 5, 4), dtype=np.uint8))  # Pillow maps the array, read-only
    assert views.writable_pixels(shared) is None
    assert np.array_equal(views.pixels(shared), np.zeros((4, 5, 4)))


def test_compose_without_a_view_makes_the_same_cutout(photo: Image.Image) -> None:
    """Images in several blocks of memory (Pillow's own allocator) have no view: compose works on a copy."""
    rgb = photo.convert("RGB")
    rows, cols = np.mgrid[0:600, 0:900]
    alpha = np.clip((1.1 - np.hypot((rows - 300) / 250, (cols - 450) / 350)) * 1500, 0, 255).astype(np.uint8)
    with_view = refine.compose(refine.canvas(rgb), alpha)
    Image.core.set_use_block_allocator(0)
    Image.core.set_block_size(1 << 16)
    try:
        without = refine.compose(refine.canvas(rgb.copy()), alpha)
        assert views.writable_pixels(rgb.convert("RGBA")) is None
    finally:
        Image.core.set_block_size(1 << 24)
        Image.core.set_use_block_allocator(1)
    assert np.array_equal(np.asarray(without), np.asarray(with_view))
