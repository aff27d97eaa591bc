"""Writing results: PNG, WebP, GIF, JPEG, remove.bg's color+alpha zip, and animations; the Cutout they make."""

import io
import zipfile
from dataclasses import dataclass
from typing import IO

from PIL import Image

from removal.cutout import png


@dataclass(frozen=True)
class Cutout:
    data: bytes  # the result; b"" when it is in `file`
    width: int
    height: int
    mime_type: str
    extension: str
    # Where the subject is in the result: (left, top, width, height); None if nothing was found
    # (removal.cutout.confidence.shows_a_subject).
    foreground: tuple[int, int, int, int] | None = None
    frames: int = 1
    # A still's alpha before layout (placing, cropping, background), as an L PNG in the
    # photo's frame: what a hand edit starts from (see decode_mask, recompose).
    mask_png: bytes | None = None
    # How sure the model is that the cutout is right, 0-1 (removal.cutout.confidence): for an
    # animation or a video, its least confident frame; None for a hand-edited mask.
    confidence: float | None = None
    # The result's thumbnail (removal.cutout.thumbnails), when it was asked for; a still's comes with
    # the thumbnail of the photo it was cut out of, made from the photo already decoded.
    thumbnail: bytes | None = None
    original_thumbnail: bytes | None = None
    # A result too large to hold in memory (a video's zip): a temporary file that closing deletes.
    file: IO[bytes] | None = None

    def body(self) -> IO[bytes]:
        """The result as a file at its start, to close after use: `file`, or `data` in memory."""
        if self.file is None:
            return io.BytesIO(self.data)
        self.file.seek(0)
        return self.file


def encode_png(image: Image.Image, *, compress_level: int, icc_profile: bytes | None = None) -> bytes:
    return png.encode(image, level=compress_level, icc_profile=icc_profile)


def encode(image: Image.Image, *, fmt: str, compress_level: int, icc_profile: bytes | None = None) -> bytes:
    """`image` in format `fmt`, carrying `icc_profile` (the photo's RGB colour profile, decode.rgb_profile) where
    the result has colour: not an alpha-only image, nor a GIF's palette."""
    profile = icc_profile if image.mode in ("RGB", "RGBA") else None
    if fmt == "zip":
        return _color_and_alpha_zip(image, compress_level=compress_level, icc_profile=profile)
    if fmt == "png":
        return encode_png(image, compress_level=compress_level, icc_profile=profile)
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, format="WEBP", quality=90, method=4, icc_profile=profile)
    elif fmt == "gif":
        frame = _gif_frame(image)
        frame.save(buffer, format="GIF", transparency=frame.info.get("transparency"))
    else:
        image.convert("L" if image.mode == "L" else "RGB").save(buffer, format="JPEG", quality=90, icc_profile=profile)
    return buffer.getvalue()


def encode_animation(results: list[Image.Image], durations: list[int], *, fmt: str) -> bytes:
    """Frames as an animated PNG, WebP or GIF, each keeping its duration."""
    first, rest = results[0], results[1:]
    buffer = io.BytesIO()
    if fmt == "png":  # APNG: each frame replaces the last (no ghosting of transparent areas)
        # Disposing a frame to the background fills it with RGBA in Pillow, which an "L" frame (a mask, channels=alpha)
        # cannot take; an opaque frame needs no disposal, as the next one replaces its pixels (blend=0).
        disposal = 1 if first.mode in ("RGBA", "LA") else 0
        first.save(
            buffer, "PNG", save_all=True, append_images=rest, duration=durations, loop=0, disposal=disposal, blend=0
        )
    elif fmt == "webp":
        first.save(buffer, "WEBP", save_all=True, append_images=rest, duration=durations, loop=0, quality=90)
    else:
        paletted = [_gif_frame(result) for result in results]
        paletted[0].save(
            buffer,
            "GIF",
            save_all=True,
            append_images=paletted[1:],
            duration=durations,
            loop=0,
            disposal=2,
            transparency=GIF_TRANSPARENT,
        )
    return buffer.getvalue()


GIF_TRANSPARENT = 255  # the palette index that GIF frames use for transparency


def _gif_frame(image: Image.Image) -> Image.Image:
    """255 colours plus one transparent index (GIF has 1-bit transparency: alpha < 128 is clear)."""
    if image.mode != "RGBA":
        return image.convert("RGB").quantize(GIF_TRANSPARENT)
    paletted = image.convert("RGB").quantize(GIF_TRANSPARENT)
    paletted.paste(GIF_TRANSPARENT, mask=image.getchannel("A").point(lambda alpha: 255 if alpha < 128 else 0))
    paletted.info["transparency"] = GIF_TRANSPARENT
    return paletted


def _color_and_alpha_zip(image: Image.Image, *, compress_level: int, icc_profile: bytes | None) -> bytes:
    """remove.bg's zip format: color.jpg (RGB, with the colour profile) and alpha.png (the mask), to be recombined
    by the client."""
    rgba = image.convert("RGBA")
    color = io.BytesIO()
    rgba.convert("RGB").save(color, "JPEG", quality=90, icc_profile=icc_profile)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("color.jpg", color.getvalue())
        bundle.writestr("alpha.png", encode_png(rgba.getchannel("A"), compress_level=compress_level))
    return archive.getvalue()
