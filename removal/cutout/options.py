"""Output options: each declared once here, parsed from a request, applied by the pipeline.

`OPTIONS` is the vocabulary: for each option its name, allowed values (or the shape of a free value), default, the
other words for its values (remove.bg's among them), whether /v1.0/removebg takes it, whether it applies to
animations and videos, and which `Options` fields it sets. The parser, the OpenAPI document
(web/openapi_schemas.py), the option table of docs/api.md and the upload page's controls (option_lists.py), remove.bg's
parameters (removebg_options.py) and result reuse all read it. Adding an option is one `Option` here, its `Options`
field, and the pixel code in pipeline.py.

The same names work in /bgremove (query, form or JSON), the batch API (fields sent with the files that create a
batch; they apply to the whole batch) and the remove.bg-compatible endpoint. A bad value is an InvalidOption naming
the field, whether or not the option it tunes is on.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from removal.cutout.option_parsing import (
    ALPHA_MATTING_TUNING,
    AUTO_FORMAT,
    AUTO_SIZE,
    BACKGROUND_THRESHOLD,
    ERODE_SIZE,
    FOREGROUND_THRESHOLD,
    FULL_SIZE,
    PREVIEW_SIZE,
    SHADOW_OPACITY,
    SIZE_PIXELS,
    Option,
    ParseContext,
    auto_size_without_quota,
    background_elsewhere,
    parse_alpha_matting,
    parse_bg_color,
    parse_crop_margin,
    parse_flag,
    parse_format,
    parse_model,
    parse_position,
    parse_roi,
    parse_scale,
    parse_shadow,
    parse_size,
)

FORMATS = {
    "png": ("image/png", "png"),
    "webp": ("image/webp", "webp"),
    "jpg": ("image/jpeg", "jpg"),
    "gif": ("image/gif", "gif"),
    # remove.bg's zip: color.jpg (the subject's colours) + alpha.png (its mask), small to send.
    "zip": ("application/zip", "zip"),
}

PREVIEW_PIXELS = SIZE_PIXELS[PREVIEW_SIZE]


def gettext_noop(label: str) -> str:
    """Marks a label the upload page shows for `makemessages`, which looks for this name: Django's
    gettext_noop, without importing Django here. The page translates the label when it renders."""
    return label


@dataclass(frozen=True)
class Options:
    format: str = "png"
    bg_color: tuple[int, int, int, int] | None = None
    crop: bool = False
    crop_margin: int = 0
    crop_margin_percent: bool = False
    # Two or four margins (CSS's order: top, right, bottom, left), each "30px" or "10%"; None: crop_margin all round.
    crop_margin_sides: tuple[str, str, str, str] | None = None
    channels: str = "rgba"
    # None: full size; else (max width, max height) to fit within.
    size_bound: tuple[int, int] | None = None
    size_preview: bool = False
    # None: no cap; else at most this many pixels (SIZE_PIXELS: remove.bg's "medium" and "hd").
    size_max_pixels: int | None = None
    model: str = ""
    # rembg's alpha matting: (foreground threshold, background threshold, erode size), or None.
    alpha_matting: tuple[int, int, int] | None = None
    # remove.bg's roi: only the subject inside this box counts; 4 tokens "10%" or "25px".
    roi: tuple[str, str, str, str] | None = None
    # remove.bg's scale (subject size, % of the image) and position (x%, y% of the free space).
    scale_percent: int | None = None
    position: tuple[int, int] | None = None
    # A drop shadow under the subject: its opacity in percent, or None.
    shadow_opacity: int | None = None
    quality: str = "fast"
    # SHA-256 of a background image to composite onto (the image itself is stored with the batch).
    bg_image_sha256: str = ""

    @property
    def mime_type(self) -> str:
        return FORMATS[self.format][0]

    @property
    def extension(self) -> str:
        return FORMATS[self.format][1]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def result_key(self) -> tuple[Any, ...]:
        """The values that decide the cutout (RESULT_FIELDS): equal keys, reusable results."""
        return tuple(getattr(self, name) for name in RESULT_FIELDS)

    @classmethod
    def from_json(cls, stored: Mapping[str, Any] | None) -> "Options":
        if not stored:
            return cls()
        known = {field.name for field in fields(cls)}
        values = {name: value for name, value in stored.items() if name in known}
        for name in ("bg_color", "size_bound", "alpha_matting", "roi", "position", "crop_margin_sides"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)


PX_OR_PERCENT = r"[0-9]{1,5}(px|%)"
MARGIN = "([0-9]{1,4}(px)?|([0-9]|[1-4][0-9]|50)%)"  # one side's crop_margin


# In the order they are parsed: format before bg_color (a jpg gets white), scale before position.
OPTIONS: tuple[Option, ...] = (
    Option(
        "format",
        summary="zip: color.jpg and alpha.png in one archive, as remove.bg. "
        "auto: jpg when the result has no transparency (an opaque bg_color or a bg_image), else png.",
        doc_values="`png`, `webp`, `jpg` (`jpeg`), `gif`, `zip` (`color.jpg` + `alpha.png`) — `jpg` has no "
        "transparency, so it gets a white background unless `bg_color` says otherwise",
        doc_default="`png` (the server's `DEFAULT_FORMAT`)",
        values=(*FORMATS, AUTO_FORMAT),
        aliases={"jpeg": "jpg"},
        default="png",
        labels={"png": "PNG", "webp": "WebP", "jpg": "JPEG"},
        parse=parse_format,
    ),
    Option(
        "bg_color",
        summary="Hex like ff0000 or #ff0000cc (or f00, f00c), or a CSS colour name.",
        doc_values="hex `ff0000`, `#ff0000cc`, `f00`, `f00c`, or a CSS colour name: composites the cutout onto it "
        "(not with a `bg_image`: one background per request, else a 400 naming both)",
        doc_default="none (transparent)",
        pattern="#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]+",
        parse=parse_bg_color,
        videos=False,
    ),
    Option(
        "crop",
        summary="true: the result cropped to the subject, with crop_margin around it.",
        doc_values="`true` / `false`: crop to the subject",
        doc_default="`false`",
        values=("true", "false"),
        default="false",
        parse=parse_flag,
        videos=False,
    ),
    Option(
        "crop_margin",
        summary="Pixels (30, 30px) or a percentage up to 50%; one value, or two (top and bottom, left and right) "
        "or four (top, right, bottom, left).",
        doc_values="pixels (`30`, `30px`) or a percentage of the subject's size (`10%`, at most 50%), added as "
        "transparent margin, at most 500 pixels a side; one value for every side, two (`10px 20px`: top and bottom, "
        "left and right) or four (`10px 20px 10px 5%`: top, right, bottom, left), as remove.bg takes them",
        doc_default="`0`",
        pattern=f"{MARGIN}|{MARGIN} {MARGIN}|{MARGIN} {MARGIN} {MARGIN} {MARGIN}",
        default="0",
        sets=("crop_margin", "crop_margin_percent", "crop_margin_sides"),
        animations=False,
        videos=False,
        parse=parse_crop_margin,
    ),
    Option(
        "channels",
        summary="rgba: the cutout; alpha: its mask alone, a greyscale image.",
        doc_values="`rgba`, or `alpha` for the mask alone as a greyscale image",
        doc_default="`rgba`",
        values=("rgba", "alpha"),
        default="rgba",
        videos=False,
    ),
    Option(
        "size",
        summary="preview (0.25 MP), medium (1.5 MP), hd (4 MP), full, auto (full while the credits left today pay for "
        "it, else preview), or WIDTHxHEIGHT to fit within.",
        doc_values="`full`, `preview` (at most 0.25 megapixels), remove.bg's `medium` (at most 1.5) and `hd` (at "
        "most 4), its `auto` (the whole image while the credits left today under `DAILY_IMAGE_QUOTA` pay for it, else "
        "a preview), or `WIDTHxHEIGHT` to fit within (never enlarged)",
        doc_default="`full`",
        values=(PREVIEW_SIZE, "medium", "hd", FULL_SIZE, AUTO_SIZE),
        # remove.bg's other size names: "small" and "regular" are its preview, "4k" and "50mp" its full size.
        aliases={"small": PREVIEW_SIZE, "regular": PREVIEW_SIZE, "4k": FULL_SIZE, "50mp": FULL_SIZE},
        pattern="[0-9]{1,5}x[0-9]{1,5}",
        default=FULL_SIZE,
        sets=("size_bound", "size_preview", "size_max_pixels"),
        labels={FULL_SIZE: gettext_noop("Full size"), PREVIEW_SIZE: gettext_noop("Preview (0.25 MP)")},
        parse=parse_size,
    ),
    Option(
        "model",
        summary="One of GET /api/v1/models.",
        doc_values="a model installed on this server; `GET /api/v1/models` lists them. Setup installs `u2netp-int8` "
        "(u2netp quantized to int8: 1.4 to 2.7 times as fast, the most on a CPU with VNNI "
        "([benchmarks](benchmarks.md#two-kinds-of-cpu)), the same scores on the [quality guard](quality.md) to "
        "within 0.001) and `u2netp` (the original weights)",
        doc_default="the server's `REMBG_MODEL`, `u2netp-int8` unless changed",
        removebg=False,
        parse=parse_model,
    ),
    Option(
        "quality",
        summary="fast (default), or best: also the mirror image's mask, about twice the time.",
        doc_values="`fast`: one model run, then the mask clean-up every cutout gets (near-empty and near-full "
        "alpha snapped, specks away from the subject dropped, pinholes filled, background colour taken out of "
        "soft edges); `best`: also the mirror image's mask, averaged — about twice the time. "
        "`GET /api/v1/models` gives each preset's measured figures ([quality.md](quality.md))",
        doc_default="`fast`",
        values=("fast", "best"),
        default="fast",
        labels={"fast": gettext_noop("Fast"), "best": gettext_noop("Best (about twice the time)")},
    ),
    Option(
        "alpha_matting",
        summary="true: finer edges (hair, fur) with rembg's alpha matting; slower.",
        doc_values="`true` for finer edges (hair, fur) with rembg's alpha matting; slower (an image over 2 "
        "megapixels is matted at that size, its alpha scaled back up: memory stays near 1 GB). Tune with "
        + ", ".join(param.doc for param in ALPHA_MATTING_TUNING),
        doc_default="`false`",
        values=("true", "false"),
        params={
            FOREGROUND_THRESHOLD.name: f"With alpha_matting: {FOREGROUND_THRESHOLD.bounds}; the mask above it is sure "
            "subject.",
            BACKGROUND_THRESHOLD.name: f"With alpha_matting: {BACKGROUND_THRESHOLD.bounds}; the mask below it is "
            "background.",
            ERODE_SIZE.name: f"With alpha_matting: {ERODE_SIZE.bounds}; how far the sure parts are eroded.",
        },
        removebg=False,
        parse=parse_alpha_matting,
    ),
    Option(
        "roi",
        summary="Only the subject inside this box counts: x1 y1 x2 y2, like '10% 10% 90% 90%'.",
        doc_values="four values `x1 y1 x2 y2` in px of the photo or % (`10% 10% 90% 90%`): only the subject inside "
        "this box is kept; a box past the image's edge is cut to it, one with no area in the image is refused",
        doc_default="whole image",
        pattern=" ".join([PX_OR_PERCENT] * 4),
        animations=False,
        videos=False,
        parse=parse_roi,
    ),
    Option(
        "scale",
        summary="original, or the subject's size as 10% to 100% of the image.",
        doc_values="`original`, or the subject's size as a share of the image, `10%`\u2013`100%`",
        doc_default="`original`",
        values=("original",),
        pattern="[0-9]{1,3}%",
        default="original",
        sets=("scale_percent",),
        animations=False,
        videos=False,
        parse=parse_scale,
    ),
    Option(
        "position",
        summary="original, center, or 'X% Y%' of the free space.",
        doc_values="`original`, `center`, or `X% Y%` of the free space (`0% 100%` = bottom left); a scaled "
        "subject is centred unless told",
        doc_default="`original`",
        values=("original", "center"),
        pattern="[0-9]{1,3}%( [0-9]{1,3}%)?",
        default="original",
        animations=False,
        videos=False,
        parse=parse_position,
    ),
    Option(
        "add_shadow",
        summary="true: a soft drop shadow under the subject.",
        doc_values=f"`true` for a soft drop shadow under the subject; {SHADOW_OPACITY.doc}",
        doc_default="`false`",
        values=("true", "false"),
        sets=("shadow_opacity",),
        params={
            SHADOW_OPACITY.name: f"With add_shadow: {SHADOW_OPACITY.bounds}, how dark the shadow is.",
            "shadow_type": "remove.bg's: anything but none adds the shadow, as add_shadow=true.",
            "shadow": "Another name for add_shadow.",
        },
        parse=parse_shadow,
        videos=False,
    ),
    Option(
        "bg_image",
        summary="An http(s) URL of an image to composite onto.",
        doc_values="an image to composite onto, scaled and cropped to cover: a file field `bg_image` or an "
        "http(s) URL (fetched with the same rules as `img`); remove.bg's `bg_image_file` / `bg_image_url` too",
        doc_default="none",
        sets=("bg_image_sha256",),
        removebg=False,  # remove.bg names it bg_image_url / bg_image_file (removal.web.input_images.background_image)
        parse=background_elsewhere,
    ),
)


OPTION_NAMES = tuple(option.name for option in OPTIONS)
BY_NAME = {option.name: option for option in OPTIONS}
QUALITIES = BY_NAME["quality"].values
CHANNELS = BY_NAME["channels"].values


# The Options fields whose values make a different cutout: results are reused only when these agree.
RESULT_FIELDS = tuple(name for option in OPTIONS if option.changes_result for name in option.fields)


def parse_options(
    params: Mapping[str, Any],
    *,
    default_model: str,
    models: Collection[str],
    default_format: str = "png",
    background: bool = False,
    auto_size: Callable[[], str] = auto_size_without_quota,
) -> Options:
    """Options from request parameters; absent ones keep their defaults. `models`: the names a request may choose as
    `model`; `background`: the request also brings a bg_image (which leaves no transparency); `auto_size`: what
    size=auto stands for, FULL_SIZE or PREVIEW_SIZE, asked only when a request names it (ops.limits.auto_size)."""
    context = ParseContext(default_model, models, default_format, background, auto_size)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        option.read(params, values, context)
    return Options(**values)
