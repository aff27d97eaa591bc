"""removal.cutout.animations: what an animation may hold, judged before its frames are decoded."""

import io
import struct
import time

import pytest
from PIL import Image

from removal.cutout import animations, pipeline

ONE_PIXEL_FRAME = b"!\xf9\x04\x00\x02\x00\x00\x00" + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00" + b"\x02\x02D\x01\x00"


def one_pixel_gif(frames: int) -> bytes:
    """A GIF of `frames` 1x1 frames, as small as a frame can be (23 bytes): a million fit in an upload."""
    head = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\xff\xff\xff\x00\x00\x00"  # a global colour table of two
    return head + ONE_PIXEL_FRAME * frames + b";"


def pillow_gif(mode: str, frames: int, **save: object) -> bytes:
    images = [Image.new(mode, (24, 16), (index * 47 % 256,) * len(mode)) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=40, **save)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "gif",
    [
        pillow_gif("L", 7),  # a global colour table
        pillow_gif("RGB", 5, loop=0, comment=b"a comment"),  # local tables, the loop and comment extensions
        pillow_gif("P", 1),
        one_pixel_gif(12),
    ],
)
def test_a_gifs_images_are_counted_from_its_blocks_as_pillow_counts_its_frames(gif: bytes) -> None:
    with Image.open(io.BytesIO(gif)) as opened:
        frames = opened.n_frames
    assert animations._gif_images(io.BytesIO(gif), at_most=1000)[0] == frames


def one_pixel_tiff(pages: int) -> bytes:
    """A TIFF of `pages` 1x1 grey pages, all of them the one pixel at offset 8 (114 bytes a page)."""
    tags = [(256, 3, 1), (257, 3, 1), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (277, 3, 1), (279, 4, 1)]
    directory = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags
    )
    size = len(directory) + 4
    pages_at = [12 + page * size for page in range(pages)]
    following = [*pages_at[1:], 0]
    return (
        b"II*\x00"
        + struct.pack("<I", 12)
        + b"\x80\x00\x00\x00"
        + b"".join(directory + struct.pack("<I", offset) for offset in following)
    )


def test_a_tiff_of_very_many_pages_is_refused_from_its_first_few() -> None:
    """Pillow's n_frames reads every page's directory, in a time growing with their square: 20,000 pages (2.3 MB)
    held the upload's thread 6 s, and an upload's 25 MB minutes."""
    with Image.open(io.BytesIO(one_pixel_tiff(5))) as opened:
        assert opened.n_frames == 5
    started = time.perf_counter()
    with pytest.raises(pipeline.ImageRejected, match="the animation has more than 300 frames; the limit is 300"):
        animations.check_animation(io.BytesIO(one_pixel_tiff(20_000)), max_pixels=50_000_000, max_frames=300)
    assert time.perf_counter() - started < 1
    animations.check_animation(io.BytesIO(one_pixel_tiff(300)), max_pixels=50_000_000, max_frames=300)


def test_a_gif_frame_reaching_past_its_screen_counts_at_the_size_pillow_decodes_it() -> None:
    """A 1x1 screen passed the pixel limit; its large frame made Pillow's image 2000x2000 for every frame after it:
    a few KB decoded to hundreds of MB."""
    large_frame = ONE_PIXEL_FRAME.replace(b"\x01\x00\x01\x00\x00\x02", b"\xd0\x07\xd0\x07\x00\x02")  # 2000x2000
    gif = one_pixel_gif(1)[:-1] + large_frame + ONE_PIXEL_FRAME * 20 + b";"
    with Image.open(io.BytesIO(gif)) as opened:
        assert opened.size == (1, 1)
        opened.seek(1)  # the descriptor alone, no pixel decoded
        assert opened.size == (2000, 2000)
    with pytest.raises(pipeline.ImageRejected, match=r"22 frames of 2000x2000 \(88\.0 megapixels in all\)"):
        animations.check_animation(io.BytesIO(gif), max_pixels=50_000_000, max_frames=300)


def test_a_gif_of_very_many_frames_is_refused_from_the_first_few_thousand() -> None:
    """Pillow's n_frames walked all of them (a million 1x1 frames: 2.8 s of the upload's thread); now the count
    stops past ten times the limit, and the refusal says so."""
    gif = io.BytesIO(one_pixel_gif(200_000))
    with pytest.raises(pipeline.ImageRejected) as refused:
        animations.check_animation(gif, max_pixels=50_000_000, max_frames=300)
    assert str(refused.value) == "the animation has more than 3000 frames; the limit is 300"
    assert gif.tell() == 0


def test_a_gif_a_little_over_the_limit_is_refused_with_its_count() -> None:
    with pytest.raises(pipeline.ImageRejected, match="the animation has 12 frames; the limit is 10"):
        animations.check_animation(io.BytesIO(one_pixel_gif(12)), max_pixels=50_000_000, max_frames=10)
