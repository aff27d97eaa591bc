"""A still image (or one frame): the model's mask, cleaned, as alpha; then placed, cropped and finished as asked."""

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from removal.cutout import confidence, cores, refine, thumbnails, views
from removal.cutout.decode import decode_image, rgb_profile
from removal.cutout.encode import encode, encode_png
from removal.cutout.options import PREVIEW_PIXELS, Options
from removal.cutout.results import Cutout
from removal.cutout.roi import roi_box

DEFAULT_OPTIONS = Options()


def remove_background(
    image: Image.Image,
    *,
    session: Any,
    matting: tuple[int, int, int] | None = None,
    quality: str = "fast",
    partner: Any = None,
) -> Image.Image:
    """Return an RGBA cutout of `image`: the model's mask, cleaned, becomes the alpha channel.

    The mask is cleaned and its soft edge pixels' colours freed of the background
    (removal.cutout.refine); `quality="best"` also averages in the model's mask of the
    mirror image and the `partner` session's mask (see predict_mask). Colour is
    kept unpremultiplied; pixels that end fully transparent are zeroed so the PNG
    compresses well (compose_cutout). `matting`
    (foreground threshold, background threshold, erode size) refines the edges
    with rembg's alpha matting (finer hair, slower).
    """
    alpha, _ = scored_alpha(image, session=session, matting=matting, quality=quality, partner=partner)
    return compose_cutout(image, alpha)


def scored_alpha(
    image: Image.Image,
    *,
    session: Any,
    matting: tuple[int, int, int] | None = None,
    quality: str = "fast",
    partner: Any = None,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[np.ndarray, float]:
    """The cutout's alpha (uint8, the image's size), and how sure the model is of it (removal.cutout.confidence,
    read from the model's mask before the clean-up, as it was fitted: on another thread, while it is cleaned).
    `meanwhile`: see predict_mask."""
    rgb = _rgb(image)
    mask = predict_mask(rgb, session=session, quality=quality, partner=partner, meanwhile=meanwhile)
    sure = cores.beside(confidence.confidence, mask, masks_averaged(quality, partner))
    alpha = refine.refine_alpha(mask)
    if matting is not None:
        alpha = matted_alpha(rgb, alpha, matting)
    return visible_alpha(image, alpha), sure.result()


# rembg's alpha matting (pymatting's closed-form solver) takes about 0.5 GB and over a second per megapixel: a 12 MP
# photo took 14 s and 6.9 GB. A larger image is matted at this size and the alpha scaled back up.
MATTING_MAX_PIXELS = 2_000_000


def matted_alpha(rgb: Image.Image, alpha: np.ndarray, matting: tuple[int, int, int]) -> np.ndarray:
    """`alpha` refined by rembg's alpha matting (thresholds and erosion in `matting`), at most MATTING_MAX_PIXELS
    at a time; `alpha` itself where matting finds nothing to refine (as in rembg)."""
    from rembg.bg import alpha_matting_cutout

    scale = min(1.0, math.sqrt(MATTING_MAX_PIXELS / (rgb.width * rgb.height)))
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    mask = Image.fromarray(alpha)
    if scale < 1:
        rgb, mask = rgb.resize(size, Image.Resampling.BILINEAR), mask.resize(size, Image.Resampling.BILINEAR)
    try:
        matted = alpha_matting_cutout(rgb, mask, *matting).getchannel("A")
    except ValueError:
        return alpha  # no unknown region on this mask
    if scale < 1:
        matted = matted.resize((alpha.shape[1], alpha.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(matted, dtype=np.uint8)


def visible_alpha(image: Image.Image, alpha: np.ndarray) -> np.ndarray:
    """`alpha`, where an input that already had transparency keeps it."""
    if image.mode != "RGBA":
        return alpha
    return np.minimum(alpha, np.asarray(image.getchannel("A"), dtype=np.uint8))


def compose_cutout(image: Image.Image, alpha: np.ndarray, ready: refine.Canvas | None = None) -> Image.Image:
    """`image` made transparent by `alpha` (uint8, its size, as visible_alpha gives it), soft edges' colours freed
    of the background (on `ready`, its canvas_of, when that was made beforehand)."""
    return refine.compose(ready or canvas_of(image), alpha)


def canvas_of(image: Image.Image) -> refine.Canvas:
    """What composing needs of `image` alone (refine.canvas), from its RGB colours."""
    return refine.canvas(_rgb(image))


def _rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB") if image.mode != "RGB" else image


def cut_out_image(image: Image.Image, options: Options, *, session: Any, partner: Any) -> tuple[Image.Image, float]:
    """One still image or frame at the requested size, cut out with the options' model settings: the cutout
    and its confidence."""
    image = fit_size(image, options)
    alpha, sure = alpha_with_options(image, options, session=session, partner=partner)
    return compose_cutout(image, alpha), sure


def alpha_with_options(
    image: Image.Image,
    options: Options,
    *,
    session: Any,
    partner: Any,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[np.ndarray, float]:
    """scored_alpha with the options' model settings."""
    return scored_alpha(
        image,
        session=session,
        matting=options.alpha_matting,
        quality=options.quality,
        partner=partner,
        meanwhile=meanwhile,
    )


def cut_out_still(
    image: Image.Image,
    options: Options,
    *,
    session: Any,
    partner: Any,
    background: Image.Image | None,
    compress_level: int,
    thumbnail: bool = False,
) -> Cutout:
    """A still image cut out in the options' form, with its confidence and its alpha as a PNG (mask_png,
    encoded on another thread while the colours are composed), and with `thumbnail` its thumbnail and the
    image's (made on another thread while the model runs: no second decode of the photo for the page's card).
    What composing needs of the photo alone (refine.canvas) is made on another thread while the model runs too."""
    original_small = cores.Later(thumbnails.thumbnail, image) if thumbnail else None
    profile, photo_size = rgb_profile(image), image.size
    image = fit_size(image, options)
    ready = cores.Later(canvas_of, image)  # an RGBA photo's RGB copy made there too, not before the model
    beside_the_model = [work for work in (ready, original_small) if work is not None]

    def start_beside_the_model() -> None:
        for work in beside_the_model:
            work.start()

    alpha, sure = alpha_with_options(image, options, session=session, partner=partner, meanwhile=start_beside_the_model)
    mask_png = cores.beside(encode_png, Image.fromarray(alpha), compress_level=compress_level)
    cutout = compose_cutout(image, alpha, ready.result())
    result = laid_out(
        cutout,
        options,
        background,
        compress_level=compress_level,
        thumbnail=thumbnail,
        sure=sure,
        profile=profile,
        photo_size=photo_size,
    )
    return dataclasses.replace(
        result,
        mask_png=mask_png.result(),
        confidence=sure,
        original_thumbnail=original_small.result() if original_small else None,
    )


def predict_mask(
    rgb: Image.Image,
    *,
    session: Any,
    quality: str = "fast",
    partner: Any = None,
    meanwhile: Callable[[], None] | None = None,
) -> np.ndarray:
    """The model's mask of `rgb` (uint8, its size; not to be written to). `meanwhile` is called as the (first)
    model run starts, by a session that takes it (u2net.U2netSession.predict): work that can start there.

    For "best", the mean of the masks of the photo and of its mirror image; with a
    `partner` session (a second model), the mean of that and the partner's mask.
    Measured on real photos (docs/quality.md): each step raises IoU.
    """
    (mask,) = session.predict(rgb, meanwhile=meanwhile)
    if quality != "best":
        return views.pixels(mask) if mask.mode == "L" else np.asarray(mask, dtype=np.uint8)  # a view: no copy
    (mirrored,) = session.predict(ImageOps.mirror(rgb))
    mean = (np.asarray(mask, dtype=np.float32) + np.asarray(ImageOps.mirror(mirrored), dtype=np.float32)) / 2
    if partner is not None:
        (partner_mask,) = partner.predict(rgb)
        mean = (mean + np.asarray(partner_mask, dtype=np.float32)) / 2
    return (mean + 0.5).astype(np.uint8)


def masks_averaged(quality: str, partner: Any) -> int:
    """How many masks predict_mask averages: 1 (fast), 2 (best: the photo's and its mirror image's), 3 (and the
    partner's)."""
    if quality != "best":
        return 1
    return 3 if partner is not None else 2


def fit_size(image: Image.Image, options: Options) -> Image.Image:
    """Scale down (never up) to the requested size before the model runs."""
    width, height = image.size
    scale = 1.0
    most_pixels = PREVIEW_PIXELS if options.size_preview else options.size_max_pixels
    if most_pixels is not None and width * height > most_pixels:
        scale = math.sqrt(most_pixels / (width * height))
    if options.size_bound is not None:
        scale = min(scale, options.size_bound[0] / width, options.size_bound[1] / height)
    if scale >= 1:
        return image
    target = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(target, Image.Resampling.LANCZOS)


def place_subject(cutout: Image.Image, options: Options, roi: tuple[int, int, int, int] | None) -> Image.Image:
    """remove.bg's roi (its box in the cutout's pixels), scale and position: keep only the subject in the box, resize
    it, move it."""
    if roi is not None:
        inside = Image.new("L", cutout.size, 0)
        inside.paste(255, roi)
        alpha = Image.fromarray(np.minimum(np.asarray(cutout.getchannel("A")), np.asarray(inside)))
        cutout = cutout.copy()
        cutout.putalpha(alpha)
    if options.position is None:
        return cutout
    box = cutout.getchannel("A").getbbox()
    if box is None:
        return cutout
    subject = cutout.crop(box)
    if options.scale_percent is not None:
        factor = options.scale_percent / 100 * min(cutout.width / subject.width, cutout.height / subject.height)
        subject = subject.resize(
            (max(1, round(subject.width * factor)), max(1, round(subject.height * factor))), Image.Resampling.LANCZOS
        )
    x_percent, y_percent = options.position
    canvas = Image.new("RGBA", cutout.size, (0, 0, 0, 0))
    offset = (
        round((cutout.width - subject.width) * x_percent / 100),
        round((cutout.height - subject.height) * y_percent / 100),
    )
    canvas.alpha_composite(subject, (max(0, offset[0]), max(0, offset[1])))
    return canvas


# At most this many pixels of margin on a side, as remove.bg: a small image with crop_margin=9999px made a 400-megapixel
# canvas (3.4 GB), and 50% around a 50-megapixel subject would make a 200-megapixel one.
MAX_MARGIN = 500


def crop_to_subject(cutout: Image.Image, options: Options) -> Image.Image:
    """Crop to the visible subject, plus a transparent margin on each side (pixels, or up to 50 % of the subject's
    size; at most MAX_MARGIN pixels either way)."""
    box = cutout.getchannel("A").getbbox()
    if box is None:
        return cutout  # nothing found: keep the whole image rather than return nothing
    subject = cutout.crop(box)
    every_side = f"{options.crop_margin}{'%' if options.crop_margin_percent else 'px'}"
    sides = options.crop_margin_sides or (every_side,) * 4
    top, right, bottom, left = (
        min(round(length * int(side[:-1]) / 100) if side.endswith("%") else int(side.removesuffix("px")), MAX_MARGIN)
        for side, length in zip(sides, (subject.height, subject.width) * 2, strict=True)
    )
    if not any((top, right, bottom, left)):
        return subject
    canvas = Image.new("RGBA", (subject.width + left + right, subject.height + top + bottom), (0, 0, 0, 0))
    canvas.paste(subject, (left, top))
    return canvas


def add_shadow(cutout: Image.Image, opacity: int) -> Image.Image:
    """A soft drop shadow under the subject, offset down and right, `opacity` percent dark."""
    alpha = cutout.getchannel("A")
    reach = max(2, round(max(cutout.size) * 0.02))
    shade = alpha.point(lambda value: value * opacity // 100).filter(ImageFilter.GaussianBlur(reach))
    shadow = Image.new("RGBA", cutout.size, (0, 0, 0, 0))
    shadow.paste((0, 0, 0, 255), (reach // 2, reach), shade)  # clipped at the edges, however thin the image
    shadow.alpha_composite(cutout)
    return shadow


def finish(cutout: Image.Image, options: Options, background: Image.Image | None = None) -> Image.Image:
    """The requested channels, shadow and background (an image, scaled and cropped to cover, or a colour)."""
    if options.channels == "alpha":
        return cutout.getchannel("A")
    if options.shadow_opacity:
        cutout = add_shadow(cutout, options.shadow_opacity)
    if background is not None:
        canvas = ImageOps.fit(background.convert("RGBA"), cutout.size, Image.Resampling.LANCZOS)
    elif options.bg_color is not None:
        canvas = Image.new("RGBA", cutout.size, options.bg_color)
    else:
        return cutout
    canvas.alpha_composite(cutout)
    return canvas.convert("RGB") if options.format == "jpg" else canvas


def laid_out(
    cutout: Image.Image,
    options: Options,
    background: Image.Image | None,
    *,
    compress_level: int,
    photo_size: tuple[int, int],
    thumbnail: bool = False,
    sure: float | None = None,
    profile: bytes | None = None,
) -> Cutout:
    """The cutout placed, cropped, finished and encoded as the options ask, in the colour `profile` of the photo
    (decode.rgb_profile); with `thumbnail`, its thumbnail too (made on another thread while the result is encoded).
    `sure`: the model's confidence in it (none for a hand-edited mask), which has a say in whether it shows a
    subject (confidence.shows_a_subject). `photo_size`: the photo's, which a roi in px counts in (the cutout may be
    of a smaller copy: fit_size)."""
    roi = roi_box(options.roi, cutout.size, photo_size) if options.roi is not None else None
    asked_about = cutout.crop(roi) if roi is not None else cutout
    found = confidence.shows_a_subject(asked_about, sure)  # a subject that fills a small roi is found
    cutout = place_subject(cutout, options, roi)
    if options.crop:
        cutout = crop_to_subject(cutout, options)
    result = finish(cutout, options, background)
    small = cores.beside(thumbnails.thumbnail, result) if thumbnail else None
    box = cutout.getbbox(alpha_only=True) if found else None  # without a copy of the alpha
    return Cutout(
        foreground=(box[0], box[1], box[2] - box[0], box[3] - box[1]) if box else None,
        data=encode(result, fmt=options.format, compress_level=compress_level, icc_profile=profile),
        thumbnail=small.result() if small else None,
        width=result.width,
        height=result.height,
        mime_type=options.mime_type,
        extension=options.extension,
    )


def recompose(
    data: bytes,
    mask: Image.Image,
    *,
    max_pixels: int,
    compress_level: int,
    options: Options = DEFAULT_OPTIONS,
    background: Image.Image | None = None,
    thumbnail: bool = False,
) -> Cutout:
    """The cutout of a still image with `mask` (from decode_mask) instead of the model's, in the options' form
    (and with `thumbnail` its thumbnail)."""
    photo = decode_image(data, max_pixels=max_pixels)
    image = fit_size(photo, options)
    if mask.size != image.size:  # size=preview or size=WxH scaled the photo down before the model
        mask = mask.resize(image.size, Image.Resampling.BILINEAR)
    cutout = compose_cutout(image, visible_alpha(image, np.asarray(mask, dtype=np.uint8)))
    return laid_out(
        cutout,
        options,
        background,
        compress_level=compress_level,
        thumbnail=thumbnail,
        profile=rgb_profile(photo),
        photo_size=photo.size,
    )
