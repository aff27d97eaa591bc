"""Output options: each declared once here, parsed from a request, applied by the pipeline.

`OPTIONS` is the vocabulary: for each option its name, allowed values (or the shape of
a free value), default, the other words for its values (remove.bg's among them),
whether /v1.0/removebg takes it, whether it applies to animations and videos, and
which `Options` fields it sets. The parser, the OpenAPI document (openapi.py), the
option table of docs/api.md (tests/cutout/test_options.py holds it to `options_table()`),
the upload page's controls and result reuse all read it. Adding an option is one
`Option` here, its `Options` field, and the pixel code in pipeline.py.

The same names work in /bgremove (query, form or JSON), the batch API (fields sent
with the files that create a batch; they apply to the whole batch) and the
remove.bg-compatible endpoint. A bad value is an InvalidOption naming the field.
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from PIL import ImageColor

FORMATS = {
    "png": ("image/png", "png"),
    "webp": ("image/webp", "webp"),
    "jpg": ("image/jpeg", "jpg"),
    "gif": ("image/gif", "gif"),
    # remove.bg's zip: color.jpg (the subject's colours) + alpha.png (its mask), small to send.
    "zip": ("application/zip", "zip"),
}
# "auto" (remove.bg's default): JPEG when the result has no transparency left (an opaque
# bg_color or a bg_image), PNG otherwise.
AUTO_FORMAT = "auto"
PREVIEW_PIXELS = 250_000  # "preview": at most 0.25 megapixels, as remove.bg
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
# remove.bg parameters this server does not offer (a 400 naming them rather than a silent difference).
REMOVEBG_UNSUPPORTED = ("semitransparency",)


class InvalidOption(ValueError):
    """An option has a value we cannot use; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Options:
    format: str = "png"
    bg_color: tuple[int, int, int, int] | None = None
    crop: bool = False
    crop_margin: int = 0
    crop_margin_percent: bool = False
    channels: str = "rgba"
    # None: full size; else (max width, max height) to fit within.
    size_bound: tuple[int, int] | None = None
    size_preview: bool = False
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
        for name in ("bg_color", "size_bound", "alpha_matting", "roi", "position"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)


def model_weights(model_dir: Path, name: str) -> Path | None:
    """Where `name`'s weights are under `model_dir`: flat (<name>.onnx, as setup installs the
    bundled model) or in rembg's own layout (models/<name>/<name>.onnx, as the image build
    downloads more); None when not installed."""
    for path in (model_dir / f"{name}.onnx", model_dir / "models" / name / f"{name}.onnx"):
        if path.is_file():
            return path
    return None


MEASURED_QUALITY = Path(__file__).with_name("measured_quality.json")


def measured_quality(models: list[str]) -> dict[str, Any]:
    """What `make quality` last measured on real photos, per model and preset, for the installed `models`."""
    try:
        measured = json.loads(MEASURED_QUALITY.read_text())
    except (OSError, ValueError):
        return {}
    return {
        "photos": measured.get("photos"),
        "measured_on": measured.get("measured_on"),
        "models": {
            name: {
                # A preset measured with a partner model that is not installed here would promise too much.
                preset: figures
                for preset, figures in presets.items()
                if figures.get("partner") is None or figures["partner"] in models
            }
            for name, presets in measured.get("models", {}).items()
            if name in models
        },
    }


def installed_models(model_dir: Path) -> list[str]:
    names = {path.stem for path in model_dir.glob("*.onnx")} | {path.stem for path in model_dir.glob("models/*/*.onnx")}
    return sorted(names)


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs besides the parameters: this site's defaults, and whether a bg_image came."""

    default_model: str
    model_dir: Path
    default_format: str = "png"
    background: bool = False


# Reads its option from the parameters and puts the Options fields it sets into the dict.
Parser = Callable[["Option", Mapping[str, Any], dict[str, Any], ParseContext], None]


@dataclass(frozen=True)
class Option:
    """One option of the vocabulary (see the module docstring)."""

    name: str
    summary: str  # what it does: OpenAPI's description
    doc_values: str  # docs/api.md's "values" column (Markdown)
    doc_default: str  # and its "default" column
    values: tuple[str, ...] = ()  # the allowed words, when it is a choice
    aliases: Mapping[str, str] = field(default_factory=dict)  # other words for a value (remove.bg's too)
    pattern: str = ""  # else (or also) the shape of a free value: a regular expression
    default: str = ""
    sets: tuple[str, ...] = ()  # the Options fields it sets; () for the one named like it
    params: tuple[str, ...] = ()  # further parameters it reads (thresholds, other spellings)
    removebg: bool = True  # /v1.0/removebg takes it under this name
    animations: bool = True  # it applies to animations and videos; if not, setting it there is refused
    videos: bool = True  # it applies to videos (a zip of frames and a WebM); if not, setting it is refused
    changes_result: bool = True  # an earlier result is reused only for the same value
    labels: Mapping[str, str] = field(default_factory=dict)  # values the upload page offers, with their labels
    parse: Parser | None = None  # None: a choice among `values`, stored in the field of its name

    @property
    def fields(self) -> tuple[str, ...]:
        return self.sets or (self.name,)

    def read(self, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
        (self.parse or _parse_choice)(self, params, values, context)

    def openapi(self) -> dict[str, Any]:
        """Its OpenAPI property: an enum of its words, or a pattern (words and free values together)."""
        words = [*self.values, *self.aliases]
        if self.pattern:
            shape = "|".join([*words, self.pattern])
            schema: dict[str, Any] = {"type": "string", "pattern": f"^({shape})$"}
        elif words:
            schema = {"type": "string", "enum": words}
        else:
            schema = {"type": "string"}
        return {**schema, "description": self.summary} if self.summary else schema


def _parse_choice(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    word = _text(params, option.name, option.default).lower()
    word = option.aliases.get(word, word)
    if word not in option.values:
        raise InvalidOption(f"{option.name}: must be one of {', '.join(option.values)}, not {word!r}")
    values[option.name] = word


def _parse_flag(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    values[option.name] = _flag(params, option.name)


def _flag(params: Mapping[str, Any], name: str, default: str = "false") -> bool:
    word = _text(params, name, default).lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption(f"{name}: must be true or false, not {word!r}")
    return word in TRUE_WORDS


def _parse_format(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    fmt = _text(params, "format", context.default_format).lower()
    fmt = option.aliases.get(fmt, fmt)
    if fmt not in option.values:
        raise InvalidOption(f"format: must be one of {', '.join(option.values)}, not {fmt!r}")
    if fmt == AUTO_FORMAT:
        bg_color = parse_color(text) if (text := _text(params, "bg_color", "")) else None
        opaque = context.background or (bg_color is not None and bg_color[3] == 255)
        fmt = "jpg" if opaque and _text(params, "channels", "rgba").lower() == "rgba" else "png"
    values["format"] = fmt


def _parse_bg_color(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    if text := _text(params, "bg_color", ""):
        values["bg_color"] = parse_color(text)
    elif values["format"] == "jpg":
        values["bg_color"] = (255, 255, 255, 255)  # JPEG has no transparency: white, as remove.bg


def _parse_crop_margin(
    option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext
) -> None:
    margin = _text(params, "crop_margin", option.default)
    if re.fullmatch(option.pattern, margin) is None:
        raise InvalidOption(
            f"crop_margin: must be pixels like '30' or '30px', or a percentage up to 50%, not {margin!r}"
        )
    values["crop_margin"] = int(margin.rstrip("px%"))
    values["crop_margin_percent"] = margin.endswith("%")


def _parse_size(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    size = _text(params, "size", option.default).lower()
    size = option.aliases.get(size, size)
    if size == "preview":
        values["size_preview"] = True
    elif size != "full":
        bound = re.fullmatch(r"(\d{1,5})x(\d{1,5})", size)
        if bound is None or 0 in (int(bound.group(1)), int(bound.group(2))):
            raise InvalidOption(f"size: must be preview, full or WIDTHxHEIGHT like 800x600, not {size!r}")
        values["size_bound"] = (int(bound.group(1)), int(bound.group(2)))


def _parse_model(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    model = _text(params, "model", context.default_model)
    available = installed_models(context.model_dir)
    if model not in available:
        raise InvalidOption(f"model: {model!r} is not installed; installed: {', '.join(available) or 'none'}")
    values["model"] = model


def _parse_alpha_matting(
    option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext
) -> None:
    if _flag(params, "alpha_matting"):
        values["alpha_matting"] = (
            _number(params, "alpha_matting_foreground_threshold", 240, 0, 255),
            _number(params, "alpha_matting_background_threshold", 10, 0, 255),
            _number(params, "alpha_matting_erode_size", 10, 0, 40),
        )


def _parse_roi(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    roi = _text(params, "roi", "").split()
    if roi and roi != ["0%", "0%", "100%", "100%"]:
        if re.fullmatch(option.pattern, " ".join(roi)) is None:
            raise InvalidOption("roi: must be four values like '10% 10% 90% 90%' or '0px 0px 400px 300px'")
        values["roi"] = tuple(roi)


def _parse_scale(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    scale = _text(params, "scale", option.default).lower()
    if scale != "original":
        found = re.fullmatch(r"(\d{1,3})%", scale)
        if found is None or not 10 <= int(found.group(1)) <= 100:
            raise InvalidOption(f"scale: must be original or a percentage from 10% to 100%, not {scale!r}")
        values["scale_percent"] = int(found.group(1))


def _parse_position(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    position = _text(params, "position", option.default).lower()
    if position == "center":
        values["position"] = (50, 50)
    elif position != "original":
        found = re.fullmatch(r"(\d{1,3})%(?: (\d{1,3})%)?", position)
        if found is None or int(found.group(1)) > 100 or int(found.group(2) or 0) > 100:
            raise InvalidOption(f"position: must be original, center, or 'X% Y%', not {position!r}")
        values["position"] = (int(found.group(1)), int(found.group(2) or found.group(1)))
    elif "scale_percent" in values:
        values["position"] = (50, 50)  # a scaled subject is centred unless told otherwise, as remove.bg


def _parse_shadow(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    shadow = _text(params, "add_shadow", _text(params, "shadow", "false")).lower()
    if shadow not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption(f"add_shadow: must be true or false, not {shadow!r}")
    if shadow in TRUE_WORDS or params.get("shadow_type"):
        values["shadow_opacity"] = _number(params, "shadow_opacity", 50, 0, 100)


def _background_elsewhere(
    option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext
) -> None:
    """bg_image is a file or a URL, read by removal.web.inputs; services stores it and sets bg_image_sha256."""


PX_OR_PERCENT = r"[0-9]{1,5}(px|%)"
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
        parse=_parse_format,
    ),
    Option(
        "bg_color",
        summary="Hex like ff0000 or #ff0000cc, or a CSS colour name.",
        doc_values="hex `ff0000`, `#ff0000cc`, `f00`, or a CSS colour name: composites the cutout onto it",
        doc_default="none (transparent)",
        pattern="#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]+",
        parse=_parse_bg_color,
        videos=False,
    ),
    Option(
        "crop",
        summary="",
        doc_values="`true` / `false`: crop to the subject",
        doc_default="`false`",
        values=("true", "false"),
        default="false",
        parse=_parse_flag,
        videos=False,
    ),
    Option(
        "crop_margin",
        summary="Pixels (30, 30px) or a percentage up to 50%.",
        doc_values="pixels (`30`, `30px`) or a percentage of the subject's size (`10%`, at most 50%), added as "
        "transparent margin",
        doc_default="`0`",
        pattern="[0-9]{1,4}(px)?|([0-9]|[1-4][0-9]|50)%",
        default="0",
        sets=("crop_margin", "crop_margin_percent"),
        animations=False,
        videos=False,
        parse=_parse_crop_margin,
    ),
    Option(
        "channels",
        summary="",
        doc_values="`rgba`, or `alpha` for the mask alone as a greyscale image",
        doc_default="`rgba`",
        values=("rgba", "alpha"),
        default="rgba",
        videos=False,
    ),
    Option(
        "size",
        summary="preview, full, or WIDTHxHEIGHT to fit within.",
        doc_values="`full`, `preview` (at most 0.25 megapixels), or `WIDTHxHEIGHT` to fit within (never enlarged)",
        doc_default="`full`",
        values=("preview", "full"),
        # remove.bg's size names: those above 0.25 megapixels are our full size.
        aliases={"small": "preview", "regular": "preview"}
        | {name: "full" for name in ("auto", "4k", "hd", "medium", "50mp")},
        pattern="[0-9]{1,5}x[0-9]{1,5}",
        default="full",
        sets=("size_bound", "size_preview"),
        labels={"full": "Full size", "preview": "Preview (0.25 MP)"},
        parse=_parse_size,
    ),
    Option(
        "model",
        summary="One of GET /api/v1/models.",
        doc_values="a model installed on this server; `GET /api/v1/models` lists them. Setup installs `u2netp-int8` "
        "(u2netp quantized to int8: about 2.7x as fast, the same scores on the [quality guard](quality.md) to "
        "within 0.001) and `u2netp` (the original weights)",
        doc_default="the server's `REMBG_MODEL`, `u2netp-int8` unless changed",
        removebg=False,
        parse=_parse_model,
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
        labels={"fast": "Fast", "best": "Best (about twice the time)"},
    ),
    Option(
        "alpha_matting",
        summary="",
        doc_values="`true` for finer edges (hair, fur) with rembg's alpha matting; slower. Tune with "
        "`alpha_matting_foreground_threshold` (0\u2013255, 240), "
        "`alpha_matting_background_threshold` (0\u2013255, 10), `alpha_matting_erode_size` (0\u201340, 10)",
        doc_default="`false`",
        values=("true", "false"),
        params=(
            "alpha_matting_foreground_threshold",
            "alpha_matting_background_threshold",
            "alpha_matting_erode_size",
        ),
        removebg=False,
        parse=_parse_alpha_matting,
    ),
    Option(
        "roi",
        summary="Only the subject inside this box counts: x1 y1 x2 y2, like '10% 10% 90% 90%'.",
        doc_values="four values `x1 y1 x2 y2` in px or % (`10% 10% 90% 90%`): only the subject inside this box is kept",
        doc_default="whole image",
        pattern=" ".join([PX_OR_PERCENT] * 4),
        animations=False,
        videos=False,
        parse=_parse_roi,
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
        parse=_parse_scale,
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
        parse=_parse_position,
    ),
    Option(
        "add_shadow",
        summary="",
        doc_values="`true` for a soft drop shadow under the subject; `shadow_opacity` 0\u2013100 (50)",
        doc_default="`false`",
        values=("true", "false"),
        sets=("shadow_opacity",),
        params=("shadow_opacity", "shadow_type", "shadow"),
        parse=_parse_shadow,
        videos=False,
    ),
    Option(
        "bg_image",
        summary="An http(s) URL of an image to composite onto.",
        doc_values="an image to composite onto, scaled and cropped to cover: a file field `bg_image` or an "
        "http(s) URL (fetched with the same rules as `img`); remove.bg's `bg_image_file` / `bg_image_url` too",
        doc_default="none",
        sets=("bg_image_sha256",),
        removebg=False,  # remove.bg names it bg_image_url / bg_image_file (removal.web.inputs.background_image)
        parse=_background_elsewhere,
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
    model_dir: Path,
    default_format: str = "png",
    background: bool = False,
) -> Options:
    """Options from request parameters; absent ones keep their defaults.

    `background`: the request also brings a bg_image (which leaves no transparency).
    """
    context = ParseContext(default_model, model_dir, default_format, background)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        option.read(params, values, context)
    return Options(**values)


def removebg_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """remove.bg's parameters as parse_options takes them: the options it shares, and its default format."""
    shared = {
        name: params[name]
        for option in OPTIONS
        if option.removebg
        for name in (option.name, *option.params)
        if name in params
    }
    return {**shared, "format": params.get("format") or AUTO_FORMAT}


def not_applicable(options: "Options", *, video: bool) -> list[str]:
    """The options set to something other than their default that do not apply to an animation, or to a video."""
    defaults = Options()
    names = [
        option.name
        for option in OPTIONS
        if not (option.videos if video else option.animations)
        and any(getattr(options, name) != getattr(defaults, name) for name in option.fields)
    ]
    if video and options.bg_image_sha256:
        names.append("bg_image")
    return names


def page_choices() -> dict[str, Any]:
    """What the upload page offers (values, labels, defaults, patterns), from the declaration."""
    return {
        option.name: {
            "default": option.default,
            "choices": list(option.labels.items()),
            "pattern": option.pattern,
        }
        for option in OPTIONS
    }


def options_table() -> str:
    """docs/api.md's table of options, from the declaration."""
    rows = ["| option | values | default |", "|---|---|---|"]
    rows += [f"| `{option.name}` | {option.doc_values} | {option.doc_default} |" for option in OPTIONS]
    return "\n".join(rows)


def parse_color(text: str) -> tuple[int, int, int, int]:
    """'ff0000', '#ff0000cc', 'f00' or a CSS name -> RGBA."""
    candidate = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}", candidate):
        candidate = "#" + candidate
    try:
        color = ImageColor.getrgb(candidate)
    except ValueError:
        raise InvalidOption(
            f"bg_color: must be a hex colour like ff0000 or #ff0000cc, or a colour name, not {text!r}"
        ) from None
    return (*color[:3], color[3] if len(color) == 4 else 255)


def _number(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    text = _text(params, name, str(default))
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidOption(f"{name}: must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def _text(params: Mapping[str, Any], name: str, default: str) -> str:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise InvalidOption(f"{name}: must be a string")
    return str(value).strip()
