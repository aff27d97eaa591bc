"""Writing results: PNG, WebP, GIF, JPEG, remove.bg's color+alpha zip, and animations; the Cutout they make."""

import io
import zipfile

from PIL import Image

from removal.cutout import png


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
