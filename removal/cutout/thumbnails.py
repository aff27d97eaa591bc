"""Thumbnails for the page's cards: a cutout, or the photo it came from, at most THUMBNAIL_SIDE pixels a side,
as a WebP that keeps the alpha. A card shows a 12 MP photo and its cutout in about 20 KB instead of 10 MB.

The same, larger (DISPLAY_SIDE), is the photo for compare and the hand editor where the browser cannot show the
upload itself (HEIC in Chrome and Firefox, TIFF)."""

import io

from PIL import Image

from removal.cutout.decode import decode_image, rgb_profile

# A card's images are 6.5rem (104 CSS pixels) square: sharp up to 2.5 device pixels per CSS pixel.
THUMBNAIL_SIDE = 256
# Lossy colour (a card is small), lossless alpha; method 0 is the fastest encoder (5 ms for 256x192 with alpha).
WEBP_QUALITY = 80
WEBP_METHOD = 0

# The hand editor works on at most 2048 pixels a side (static/js/editor-view.js, WORKING_SIDE); compare fits a screen.
DISPLAY_SIDE = 2048
DISPLAY_QUALITY = 90


def thumbnail(
    image: Image.Image, *, side: int = THUMBNAIL_SIDE, quality: int = WEBP_QUALITY, icc_profile: bytes | None = None
) -> bytes:
    """`image` shrunk to fit `side` (never enlarged), as WebP (with `icc_profile`, the colour profile it is in).

    Taken to twice the thumbnail's size by the nearest pixel first, then averaged
    (Pillow premultiplies the alpha to average, so no dark or light fringes): a 12 MP
    cutout takes about 10 ms where averaging all of it takes 250, most of it spent
    premultiplying every pixel. Measured on real photos' cutouts at 1280x960 and
    4032x3024: within half a level, on average, of the thumbnail averaged from every pixel.
    """
    scale = side / max(image.size)
    if scale < 0.5:
        sampled = (max(1, round(image.width * scale * 2)), max(1, round(image.height * scale * 2)))
        image = image.resize(sampled, Image.Resampling.NEAREST)
    else:
        image = image.copy()  # thumbnail() works in place
    image.thumbnail((side, side), Image.Resampling.BOX, reducing_gap=None)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=quality, method=WEBP_METHOD, icc_profile=icc_profile)
    return buffer.getvalue()


def thumbnail_of_file(
    data: bytes, *, max_pixels: int, side: int = THUMBNAIL_SIDE, quality: int = WEBP_QUALITY, with_profile: bool = False
) -> bytes:
    """The thumbnail of an image file (the first frame of an animation); ImageRejected for anything
    decode_image refuses, a video included. A JPEG is decoded at the smallest scale that still covers
    twice the thumbnail (libjpeg's draft mode: a 12 MP photo in about 15 ms). `with_profile`: in the photo's colour
    profile (decode.rgb_profile)."""
    image = decode_image(data, max_pixels=max_pixels, draft_size=(side * 2, side * 2))
    return thumbnail(image, side=side, quality=quality, icc_profile=rgb_profile(image) if with_profile else None)


def display_of_file(data: bytes, *, max_pixels: int) -> bytes:
    """An image file as any browser shows it, at most DISPLAY_SIDE pixels a side: a WebP, turned upright, in the
    photo's colour profile (the cards' thumbnails, a few KB each, go without)."""
    return thumbnail_of_file(data, max_pixels=max_pixels, side=DISPLAY_SIDE, quality=DISPLAY_QUALITY, with_profile=True)
