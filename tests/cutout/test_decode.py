"""removal.cutout.decode on HEIC/HEIF photos (iPhones'), read through pi-heif: upright, with alpha, size-checked."""

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from removal.cutout import pipeline
from removal.cutout.decode import decode_image, inspect_image
from tests.conftest import heic_bytes, heic_header_only, photo_bytes

MAX_PIXELS = 50_000_000


def upright_photo(size: tuple[int, int] = (400, 300)) -> Image.Image:
    return Image.open(io.BytesIO(photo_bytes("astronaut.png", size=size, fmt="PNG"))).convert("RGB")


def test_a_phone_photo_stored_turned_is_read_upright_once() -> None:
    upright = upright_photo()
    # Stored on its side, with orientation 6 ("turn 90 degrees clockwise to display"), as a phone held upright does.
    data = heic_bytes(upright.transpose(Image.Transpose.ROTATE_90), orientation=6)

    info = inspect_image(io.BytesIO(data), max_pixels=MAX_PIXELS)
    assert (info.format, info.width, info.height, info.animated) == ("HEIF", 400, 300, False)
    decoded = decode_image(data, max_pixels=MAX_PIXELS)
    assert decoded.mode == "RGB" and decoded.size == (400, 300)
    difference = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(upright, dtype=np.int16))
    assert difference.mean() < 4, "the pixels are the photo's, turned once (HEVC's loss aside)"


def test_a_heic_with_transparency_keeps_it() -> None:
    image = upright_photo().convert("RGBA")
    alpha = np.full((image.height, image.width), 255, dtype=np.uint8)
    alpha[:, : image.width // 2] = 0
    image.putalpha(Image.fromarray(alpha))

    decoded = np.asarray(decode_image(heic_bytes(image), max_pixels=MAX_PIXELS))
    assert decoded.shape == (300, 400, 4)
    assert decoded[:, : 400 // 2 - 8, 3].max() < 8 and decoded[:, 400 // 2 + 8 :, 3].min() > 247


def test_a_burst_is_a_still_of_its_primary_image() -> None:
    primary, other = upright_photo(), Image.new("RGB", (400, 300), "black")
    data = heic_bytes(primary, burst=[other])

    assert not inspect_image(io.BytesIO(data), max_pixels=MAX_PIXELS).animated
    decoded = decode_image(data, max_pixels=MAX_PIXELS)
    assert np.asarray(decoded).mean() > 40, "the primary image, not the black one"
    # Where animations are taken (a page batch, PNG out), it is still a still.
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    cutout = pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1, max_frames=300)
    with Image.open(io.BytesIO(cutout.data)) as result:
        assert result.size == (400, 300) and not getattr(result, "is_animated", False)


def test_a_cameras_ten_bit_heif_is_read_as_eight_bit_rgb() -> None:
    """Mirrorless cameras save 10-bit 4:2:2 HEIF (.HIF): read as 8-bit RGB, not clipped."""
    import pillow_heif

    upright = np.asarray(upright_photo(), dtype=np.uint16) * 257
    ten_bit = pillow_heif.from_bytes(mode="RGB;16", size=(400, 300), data=upright.tobytes())
    buffer = io.BytesIO()
    ten_bit.save(buffer, quality=90, chroma=422, enc_params={"preset": "ultrafast"})

    decoded = decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
    assert decoded.mode == "RGB" and decoded.size == (400, 300)
    difference = np.abs(np.asarray(decoded, dtype=np.int16) - np.asarray(upright_photo(), dtype=np.int16))
    assert difference.mean() < 4


def test_a_large_heic_is_refused_before_its_pixels_are_decoded() -> None:
    data = heic_bytes(Image.new("RGB", (1200, 1000), "grey"))
    with pytest.raises(pipeline.ImageRejected, match=r"1200x1000 \(1\.2 megapixels\); the limit is 1 megapixels"):
        decode_image(data, max_pixels=1_000_000)


def truncated() -> bytes:
    data = heic_bytes(upright_photo())
    return data[: len(data) // 2]


@pytest.mark.parametrize("make", [heic_header_only, truncated], ids=["header-only", "truncated"])
def test_a_damaged_heic_is_refused_at_upload_with_a_reason(make: Callable[[], bytes]) -> None:
    """libheif checks at open that the file holds every byte its index points to: a cut file fails its header check."""
    with pytest.raises(pipeline.ImageRejected, match="this HEIC/HEIF file cannot be read"):
        inspect_image(io.BytesIO(make()), max_pixels=MAX_PIXELS)


def test_a_translation_that_does_not_take_the_values_falls_back_to_english() -> None:
    from removal.cutout.results import ImageRejected, filled

    refused = ImageRejected("the image is %(width)sx%(height)s", width=4, height=3)
    assert str(refused) == "the image is 4x3"
    english, values = refused.template, refused.values
    assert filled("das Bild hat %(width)s mal %(height)s", values, english=english) == "das Bild hat 4 mal 3"
    assert filled("das Bild hat %(breite)s", values, english=english) == "the image is 4x3"  # a stale catalog


def comma_decimals(number: float, spec: str) -> str:
    return format(number, spec).replace(".", ",")


def test_a_translation_writes_its_numbers_with_the_languages_writer() -> None:
    from removal.cutout.results import ImageRejected, filled

    refused = ImageRejected("%(megapixels).1f megapixels; the limit is %(limit)g", megapixels=56.04, limit=50.5)
    german = "%(megapixels).1f Megapixel; die Grenze liegt bei %(limit)g"
    marked = filled(german, refused.values, english=refused.template, write_number=comma_decimals)
    assert marked == "56,0 Megapixel; die Grenze liegt bei 50,5"
    assert str(refused) == "56.0 megapixels; the limit is 50.5"


def test_a_stale_translation_falls_back_to_english_with_numbers_written() -> None:
    from removal.cutout.results import filled

    values = {"megapixels": 56.04, "limit": 50}
    english = "%(megapixels).1f megapixels; the limit is %(limit)s"
    stale = "%(megapixel).1f Megapixel; die Grenze liegt bei %(limit)s"
    assert filled(stale, values, english=english, write_number=comma_decimals) == "56.0 megapixels; the limit is 50"


def with_empty_scans(jpeg: bytes, count: int) -> bytes:
    """`jpeg` (progressive) with `count` more copies of its last scan's header, each with no data, before its end:
    a few bytes each, and each a pass over the whole image for the decoder."""
    last_scan = jpeg.rindex(b"\xff\xda")
    header = jpeg[last_scan : last_scan + 2 + int.from_bytes(jpeg[last_scan + 2 : last_scan + 4])]
    return jpeg[:-2] + (header + b"\x00") * count + b"\xff\xd9"


def test_a_jpeg_of_very_many_scans_is_refused_before_it_is_decoded() -> None:
    """2,000 empty scans (22 KB) took a 4-megapixel photo's decoding from 0.1 s to 3 s; 25 MB of them, hours."""
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 1
    upright_photo().save(buffer, "JPEG", progressive=True, exif=exif)
    photo = buffer.getvalue()
    assert inspect_image(io.BytesIO(with_empty_scans(photo, 300)), max_pixels=MAX_PIXELS).format == "JPEG"
    bomb = with_empty_scans(photo, 2000)
    with pytest.raises(pipeline.ImageRejected, match="the JPEG has more than 500 scans"):
        inspect_image(io.BytesIO(bomb), max_pixels=MAX_PIXELS)
    mask = io.BytesIO()
    Image.new("L", (400, 300), 255).save(mask, "JPEG", progressive=True)
    with pytest.raises(pipeline.ImageRejected, match="the JPEG has more than 500 scans"):
        pipeline.decode_mask(with_empty_scans(mask.getvalue(), 2000), size=(400, 300), max_pixels=MAX_PIXELS)


def png_of_size(width: int, height: int) -> bytes:
    """A 1-bit PNG of `width` x `height`, all black: a few hundred kilobytes however many pixels it claims."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * ((width // 8 + 2) * height), 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_mask_too_large_for_pillow_to_open_is_refused_as_too_large_not_as_unreadable() -> None:
    # 400 megapixels: past twice Pillow's MAX_IMAGE_PIXELS, so Image.open refuses it before its size is read, and the
    # refusal said "the mask is not an image we can read; send a PNG" of a PNG that any editor reads.
    with pytest.raises(pipeline.ImageRejected, match=r"^the image is 400\.0 megapixels; the limit is 50 megapixels$"):
        pipeline.decode_mask(png_of_size(20_000, 20_000), size=(400, 300), max_pixels=MAX_PIXELS)


def mask_png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mask_size", "photo_size"),
    [
        ((640, 480), (640, 480)),
        ((2048, 1536), (4000, 3000)),  # the hand editor's working copy
        ((2048, 1366), (4000, 2667)),  # 1365.5, as Math.round rounds it
        ((2048, 1365), (4000, 2667)),  # floored
        ((3000, 2250), (4000, 3000)),  # between the working copy and the photo
        ((3999, 3000), (4000, 3000)),  # a factor just below 1, one side floored, the other rounded up
        ((2048, 1), (100_000, 10)),  # a side below half a pixel, made 1 (the editor's Math.max(1, ...))
    ],
)
def test_a_mask_at_the_photos_size_or_scaled_no_further_than_the_editors_copy_is_taken(
    mask_size: tuple[int, int], photo_size: tuple[int, int]
) -> None:
    assert pipeline.decode_mask(mask_png(mask_size), size=photo_size, max_pixels=MAX_PIXELS).size == photo_size


ONLY_ITS_SIZE = r"send it at 640x480 \(the original's size\)$"
OR_THE_EDITORS = (
    r"send it at 4000x3000 \(the original's size\), or scaled down by the same factor to 2048x1536 at the least$"
)


@pytest.mark.parametrize(
    ("mask_size", "photo_size", "expected"),
    [
        ((1, 1), (640, 480), ONLY_ITS_SIZE),  # was taken: a 1-pixel tolerance on the height the width gives
        ((2, 1), (640, 480), ONLY_ITS_SIZE),
        ((320, 240), (640, 480), ONLY_ITS_SIZE),  # smaller than the editor ever sends: a blurred mask
        ((639, 480), (640, 480), ONLY_ITS_SIZE),  # unscaled, no side is rounded
        ((640, 481), (640, 480), ONLY_ITS_SIZE),
        ((1, 1), (4000, 3000), OR_THE_EDITORS),
        ((1024, 768), (4000, 3000), OR_THE_EDITORS),
        ((2047, 1536), (4000, 3000), OR_THE_EDITORS),
        ((2048, 2048), (4000, 3000), OR_THE_EDITORS),  # not the photo's shape
        ((4000, 3001), (4000, 3000), OR_THE_EDITORS),
    ],
)
def test_a_mask_of_another_size_is_refused_naming_the_sizes_taken(
    mask_size: tuple[int, int], photo_size: tuple[int, int], expected: str
) -> None:
    with pytest.raises(pipeline.ImageRejected, match=f"^the mask is {mask_size[0]}x{mask_size[1]}; {expected}"):
        pipeline.decode_mask(mask_png(mask_size), size=photo_size, max_pixels=MAX_PIXELS)
