"""removal.cutout.encode: results as the formats asked for; here, animations' frames."""

import io

import pytest
from PIL import Image, ImageSequence

from removal.cutout.encode import encode_animation


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_an_animation_of_any_result_mode_is_an_animated_png_with_every_frame_as_made(mode: str) -> None:
    # channels=alpha makes "L" frames (the mask): Pillow's APNG writer fills a disposed frame's area with RGBA, which
    # cannot be pasted into an "L" frame ("images do not match"), so every animation asked for with channels=alpha
    # failed in the worker, three attempts, and the caller got a 503 for an option it may ask for.
    frames = [Image.new(mode, (40, 30), (shade,) * len(mode)) for shade in (0, 90, 180, 255)]

    encoded = encode_animation(frames, [50, 60, 70, 80], fmt="png")

    with Image.open(io.BytesIO(encoded)) as animation:
        assert animation.format == "PNG" and animation.n_frames == 4
        made = [frame.convert(mode).getpixel((20, 15)) for frame in ImageSequence.Iterator(animation)]
    assert made == [frame.getpixel((20, 15)) for frame in frames]
