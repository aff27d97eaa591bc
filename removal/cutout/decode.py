"""Reading inputs: check an upload's header cheaply, decode it (EXIF orientation applied), read a hand-edited mask.

Anything we cannot or will not read raises ImageRejected, whose message is shown to the user.
"""

import io
import re
from typing import IO

import numpy as np
import pi_heif

# The formats we accept (ACCEPTED_FORMATS) and write, each registered with Pillow by importing its plugin: opening or
# saving one then never loads all 47 of Pillow's format plugins and their codecs' libraries (Image.init, 0.1 s of CPU,
# which the first WebP thumbnail paid), which only a file in another format, one we refuse, still does.
from PIL import (  # noqa: F401
    AvifImagePlugin,
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageOps,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from removal.cutout import cores, results
from removal.cutout.results import ImageInfo, ImageRejected, gettext_noop

# HEIC/HEIF (iPhones' photos) through pi-heif, the decode-only build of pillow-heif (libheif and libde265, LGPL,
# no encoder). libheif turns the photo upright itself (its `irot`/`imir` boxes) and the plugin sets the EXIF
# orientation to 1, so nothing below turns it twice. An iPhone photo is a grid of tiles, decoded on every core.
pi_heif.register_heif_opener(decode_threads=cores.CORES, thumbnails=False, depth_images=False, aux_images=False)

if results.pillow_pixel_limit is not None:
    Image.MAX_IMAGE_PIXELS = results.pillow_pixel_limit

# Formats Pillow decodes that we accept; anything else is refused up front.
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "AVIF", "HEIF", "GIF", "BMP", "TIFF", "MPO"}

# Formats whose extra frames are not an animation: a HEIF's other images are a burst's or an edit's, and its
# primary image (the one opened) is the photo.
STILL_FORMATS = {"HEIF"}


# The formats a refusal names ("send JPEG, … or TIFF"), its last one apart: "or" is the message's, translated with it.
ACCEPTED_NAMES = {"formats": "JPEG, PNG, WebP, AVIF, HEIC, GIF, BMP", "last": "TIFF"}


# ISO-BMFF brands of HEIC/HEIF files: one that pi-heif cannot read gets a message naming its format.
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


EXIF_ORIENTATION = 0x0112


# Orientations whose display turns the stored image by 90 degrees.
ROTATED_A_QUARTER = {5, 6, 7, 8}


def inspect_image(source: IO[bytes], *, max_pixels: int) -> ImageInfo:
    """Check, without decoding pixel data, that `source` is an image we accept.

    Reads only the header, so it is cheap enough to run on every upload.
    """
    source.seek(0, io.SEEK_END)
    if source.tell() == 0:
        raise ImageRejected(gettext_noop("the file is empty"))
    source.seek(0)
    try:
        with Image.open(source) as image:
            width, height = image.width, image.height
            if image.getexif().get(EXIF_ORIENTATION) in ROTATED_A_QUARTER:
                width, height = height, width  # as displayed, and as the cutout will be
            animated = is_animation(image)
            info = ImageInfo(format=image.format or "", width=width, height=height, animated=animated)
    except UnidentifiedImageError:
        source.seek(0)
        head = source.read(12)
        if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
            raise ImageRejected(
                gettext_noop(
                    "this HEIC/HEIF file cannot be read (damaged, or not a photo); "
                    "convert it to JPEG or send %(formats)s or %(last)s"
                ),
                **ACCEPTED_NAMES,
            ) from None
        raise ImageRejected(
            gettext_noop("not an image we can read; send %(formats)s or %(last)s"), **ACCEPTED_NAMES
        ) from None
    except Image.DecompressionBombError as exc:
        raise _too_large_to_open(exc, max_pixels) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(gettext_noop("the image header is corrupt (%(reason)s)"), reason=str(exc)) from None
    finally:
        source.seek(0)
    if info.format not in ACCEPTED_FORMATS:
        raise ImageRejected(
            gettext_noop("%(format)s images are not supported; send %(formats)s or %(last)s"),
            format=info.format or "?",
            **ACCEPTED_NAMES,
        )
    if info.width * info.height > max_pixels:
        raise _too_many_pixels(info.width, info.height, max_pixels)
    if info.format in JPEG_FORMATS:
        check_jpeg_scans(source.read())
        source.seek(0)
    return info


# A progressive JPEG is decoded a scan at a time, each one a pass over the whole image. Encoders write about ten
# (a scan per coefficient and component, the most a scan script could want, about 200); 2,000 empty ones (22 KB)
# added to a 4-megapixel photo took its decoding from 0.1 s to 3 s, and an upload's 25 MB of them on 50 megapixels
# would take hours. 500 leaves room for any scan script and costs at most a few seconds.
JPEG_MAX_SCANS = 500
JPEG_FORMATS = {"JPEG", "MPO"}
# Markers without a length: stuffing (FF00), fill (FFFF), TEM, restarts, start and end of an image (an MPO's next).
JPEG_BARE_MARKERS = {0x00, 0x01, 0xFF, *range(0xD0, 0xDA)}


def check_jpeg_scans(data: bytes) -> None:
    """ImageRejected for a JPEG of more than JPEG_MAX_SCANS scans, counted from its markers, nothing decoded: a
    segment is skipped by its length (an EXIF thumbnail's scans are not counted), entropy-coded data to its next
    marker."""
    position, scans = 2, 0
    while scans <= JPEG_MAX_SCANS and (position := data.find(b"\xff", position)) != -1:
        marker = data[position + 1 : position + 2]
        if not marker:
            break
        if marker[0] in JPEG_BARE_MARKERS:
            position += 1 if marker[0] == 0xFF else 2
            continue
        scans += marker[0] == 0xDA
        position += 2 + int.from_bytes(data[position + 2 : position + 4])
    if scans > JPEG_MAX_SCANS:
        raise ImageRejected(
            gettext_noop("the JPEG has more than %(limit)s scans, each a pass over the whole image; re-save it"),
            limit=JPEG_MAX_SCANS,
        )


def is_animation(image: Image.Image) -> bool:
    """Whether an opened image's frames are an animation's (not a HEIF's burst: its primary image is the photo)."""
    return bool(getattr(image, "is_animated", False)) and image.format not in STILL_FORMATS


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        gettext_noop(
            "the image is %(width)sx%(height)s (%(megapixels).1f megapixels); the limit is %(limit)g megapixels"
        ),
        width=width,
        height=height,
        megapixels=width * height / 1e6,
        limit=max_pixels / 1e6,
    )


def _too_large_to_open(exc: Image.DecompressionBombError, max_pixels: int) -> ImageRejected:
    """Pillow refused to open the image at all; its message holds the pixel count."""
    if found := re.search(r"\((\d+) pixels\)", str(exc)):
        return ImageRejected(
            gettext_noop("the image is %(megapixels).1f megapixels; the limit is %(limit)g megapixels"),
            megapixels=int(found.group(1)) / 1e6,
            limit=max_pixels / 1e6,
        )
    return ImageRejected(
        gettext_noop("the image is too large to decode safely; the limit is %(limit)g megapixels"),
        limit=max_pixels / 1e6,
    )


def decode_image(data: bytes, *, max_pixels: int, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode fully, apply EXIF orientation, and return an RGB or RGBA image.

    `draft_size`: a JPEG may be decoded at a reduced scale that still covers it (Pillow's draft; other
    formats ignore it), for a thumbnail.
    """
    inspect_image(io.BytesIO(data), max_pixels=max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if draft_size is not None:
                opened.draft(None, draft_size)
            opened.load()
            ImageOps.exif_transpose(opened, in_place=True)  # not a copy of a photo that needs no turn
            image: Image.Image = opened
    except Image.DecompressionBombError as exc:
        raise _too_large_to_open(exc, max_pixels) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(
            gettext_noop("the image data is truncated or corrupt (%(reason)s)"), reason=str(exc)
        ) from None
    if image.mode == "CMYK" and _profile_colour_space(image) == b"CMYK":
        image = _cmyk_as_srgb(image)
    if rgb_profile(image) is None:
        image.info.pop("icc_profile", None)  # a grey (or unread CMYK) profile would not fit the RGB image made below
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits rather than clipping everything to white.
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    has_alpha = image.mode in ("LA", "PA", "La") or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def rgb_profile(image: Image.Image) -> bytes | None:
    """The ICC colour profile embedded in `image` if it describes RGB colours (an iPhone's Display P3, a
    camera's Adobe RGB), for the cutout to carry: without it a viewer reads the colours as sRGB and a wide-gamut
    photo's cutout looks duller than the photo. None for none, or for a CMYK or grey one (ICC header: the data
    colour space at bytes 16-19)."""
    return image.info["icc_profile"] if _profile_colour_space(image) == b"RGB " else None


def _profile_colour_space(image: Image.Image) -> bytes:
    """The data colour space its ICC profile names (b"RGB ", b"CMYK", b"GRAY", ...); b"" without one."""
    profile = image.info.get("icc_profile")
    return profile[16:20] if isinstance(profile, bytes) else b""


SRGB = ImageCms.createProfile("sRGB")


def _cmyk_as_srgb(image: Image.Image) -> Image.Image:
    """A CMYK photo (from a print workflow) in sRGB through its own ICC profile, relative colorimetric with black
    point compensation as Photoshop converts by default: Pillow's convert("RGB") ignores the profile and makes
    colours that no printer or screen showed (cyan ink as pure (0, 255, 255)). A profile LittleCMS cannot read
    leaves it to that conversion."""
    try:
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"])),
            SRGB,
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode="RGB",
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted or image  # None only when converting in place


def decode_mask(data: bytes, *, size: tuple[int, int], max_pixels: int) -> Image.Image:
    """A hand-edited mask for an image of `size` (as displayed), as an "L" image of exactly that size.

    Grey levels are the alpha (L or 1 images), or the alpha channel is (LA, RGBA, a
    palette with transparency). The mask may be a copy scaled down by the same factor
    in both directions, no further than the hand editor's working copy; it is scaled up here.
    """
    if not data:
        raise ImageRejected(gettext_noop("the mask is empty; send a PNG"))
    unreadable = (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError)
    try:
        opened = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # a PNG, too large for Pillow to open: not unreadable
        raise _too_large_to_open(exc, max_pixels) from None
    except unreadable:
        raise ImageRejected(gettext_noop("the mask is not an image we can read; send a PNG")) from None
    with opened:
        if opened.width * opened.height > max_pixels:
            raise _too_many_pixels(opened.width, opened.height, max_pixels)
        # Judged from its header: a mask that cannot fit was decoded first (a 190 KB PNG of 7000x7000 for a
        # 64x48 photo took 0.85 s and hundreds of MB, to be refused).
        _check_mask_fits(opened.size, size)
        if opened.format in JPEG_FORMATS:
            check_jpeg_scans(data)
        try:
            opened.load()
            mask = opened.copy()
        except unreadable:
            raise ImageRejected(gettext_noop("the mask is not an image we can read; send a PNG")) from None
    if mask.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        mask = mask.convert("RGBA").getchannel("A")
    elif mask.mode in ("L", "1"):
        mask = mask.convert("L")
    else:
        raise ImageRejected(
            f"the mask is {mask.mode}; send it as grayscale (L, white = kept) or with an alpha channel (LA or RGBA)"
        )
    _check_mask_fits(mask.size, size)  # again: a few formats decode another size than their header says
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return mask


def _check_mask_fits(mask_size: tuple[int, int], size: tuple[int, int]) -> None:
    """ImageRejected, naming the sizes it takes, unless the mask is the original's `size` scaled by one factor, each
    side rounded to a whole pixel (by any rule: Math.round, floor or ceil), that factor no smaller than the hand
    editor's (its working copy's, MASK_WORKING_SIDE a side; for a photo no larger, 1).

    Rounding moves a side by less than a pixel. The height checked against the width's, to a pixel, took a 1x1 mask
    for any photo no more than twice as tall as wide, scaled up to the whole photo (7th hostile probe)."""
    (mask_width, mask_height), (width, height) = mask_size, size
    least = min(1.0, results.MASK_WORKING_SIDE / max(width, height))
    # Rounded, a length between n - 1 and n + 1 (both left out) gives a side of n: the factors above `low` and below
    # `high` give each side its length. Unscaled (factor 1), the sides are the photo's.
    low = max((side - 1) / whole for side, whole in zip(mask_size, size, strict=True))
    high = min((side + 1) / whole for side, whole in zip(mask_size, size, strict=True))
    if not (low < high and low < 1 and least < high):
        smallest = (max(1, int(width * least + 0.5)), max(1, int(height * least + 0.5)))  # what the editor sends
        also = "" if least == 1 else f", or scaled down by the same factor to {smallest[0]}x{smallest[1]} at the least"
        raise ImageRejected(
            f"the mask is {mask_width}x{mask_height}; send it at {width}x{height} (the original's size){also}"
        )
