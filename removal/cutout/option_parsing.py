"""How one option is declared (Option) and read from request parameters (its parser).

options.py lists the options themselves (OPTIONS); each names one of these parsers, or
none for a plain choice among its values. A bad value is an InvalidOption naming the field.
"""

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from removal.cutout.roi import roi_is_empty_in_any_image

# "auto" (remove.bg's default): JPEG when the result has no transparency left (an opaque
# bg_color or a bg_image), PNG otherwise.
AUTO_FORMAT = "auto"


# The two sizes every caller may name, and size=auto stands for one of them: the whole image, or a preview.
FULL_SIZE, PREVIEW_SIZE = "full", "preview"

# The sizes that cap a cutout's pixels, as remove.bg defines them: "preview" at most 0.25 megapixels, and its
# older names "medium" (1.5) and "hd" (4), which clients written for it still send.
SIZE_PIXELS = {PREVIEW_SIZE: 250_000, "medium": 1_500_000, "hd": 4_000_000}


# remove.bg's size "auto": "the highest available resolution, based on image size and available credits". What it
# stands for is the caller's (removal.ops.limits.auto_size): ParseContext.auto_size, asked when a request names it.
AUTO_SIZE = "auto"


def auto_size_without_quota() -> str:
    """size=auto where no credits are counted: the whole image."""
    return FULL_SIZE


# A yes/no parameter's words, each yes with its no, in the order the OpenAPI document lists them; blank is no.
YES_NO_WORDS = (("true", "false"), ("1", "0"), ("yes", "no"), ("on", "off"))


TRUE_WORDS = {yes for yes, _ in YES_NO_WORDS}


FALSE_WORDS = {no for _, no in YES_NO_WORDS} | {""}


# remove.bg's shadow_type that asks for no shadow, its default (its others, 3D, car and drop, each ask for ours).
NO_SHADOW_TYPE = "none"


REASON_MAX_CHARS = 300


class InvalidOption(ValueError):
    """An option has a value we cannot use: `field` names the parameter, the message starts with it and says what
    is allowed."""

    def __init__(self, field: str, reason: str) -> None:
        # A reason quotes the value sent, which may be megabytes long (a JSON body's string): the reply shows its start.
        shown = reason if len(reason) <= REASON_MAX_CHARS else f"{reason[:REASON_MAX_CHARS]}…"
        super().__init__(f"{field}: {shown}")
        self.field = field


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs besides the parameters: this site's defaults, whether a bg_image came, and what size=auto
    stands for (FULL_SIZE or PREVIEW_SIZE)."""

    default_model: str
    models: Collection[str]  # the names a request may choose (removal.ops.models_run_on.models_installed)
    default_format: str = "png"
    background: bool = False
    auto_size: Callable[[], str] = auto_size_without_quota


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
    params: Mapping[str, str] = field(default_factory=dict)  # further parameters it reads, each with what it does
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
        (self.parse or parse_choice)(self, params, values, context)

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


@dataclass(frozen=True)
class WholeNumberParam:
    """A further parameter an option reads as a whole number: its default and range, declared once for the parser
    and for the texts that tell them (options.OPTIONS: docs/api.md's table, the OpenAPI descriptions)."""

    name: str
    default: int
    low: int
    high: int

    def read(self, params: Mapping[str, Any]) -> int:
        return whole_number(params, self.name, self.default, self.low, self.high)

    @property
    def doc(self) -> str:
        """For docs/api.md's table: its name, then its range and default in parentheses, as the others."""
        return f"`{self.name}` ({self.low}\u2013{self.high}, {self.default})"

    @property
    def bounds(self) -> str:
        """For an OpenAPI description: its range, then its default in parentheses."""
        return f"{self.low}-{self.high} ({self.default})"


FOREGROUND_THRESHOLD = WholeNumberParam("alpha_matting_foreground_threshold", default=240, low=0, high=255)
BACKGROUND_THRESHOLD = WholeNumberParam("alpha_matting_background_threshold", default=10, low=0, high=255)
ERODE_SIZE = WholeNumberParam("alpha_matting_erode_size", default=10, low=0, high=40)
ALPHA_MATTING_TUNING = (FOREGROUND_THRESHOLD, BACKGROUND_THRESHOLD, ERODE_SIZE)  # in Options.alpha_matting's order
SHADOW_OPACITY = WholeNumberParam("shadow_opacity", default=50, low=0, high=100)


def parse_choice(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    word = _text(params, option.name, option.default).lower()
    word = option.aliases.get(word, word)
    if word not in option.values:
        raise InvalidOption(option.name, f"must be one of {', '.join(option.values)}, not {word!r}")
    values[option.name] = word


def parse_flag(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    values[option.name] = yes_or_no(params, option.name)


def parse_format(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    fmt = _text(params, "format", context.default_format).lower()
    fmt = option.aliases.get(fmt, fmt)
    if fmt not in option.values:
        raise InvalidOption("format", f"must be one of {', '.join(option.values)}, not {fmt!r}")
    if fmt == AUTO_FORMAT:
        bg_color = parse_color(text) if (text := _text(params, "bg_color", "")) else None
        opaque = context.background or (bg_color is not None and bg_color[3] == 255)
        fmt = "jpg" if opaque and _text(params, "channels", "rgba").lower() == "rgba" else "png"
    values["format"] = fmt


def parse_bg_color(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    if text := _text(params, "bg_color", ""):
        values["bg_color"] = parse_color(text)
    elif values["format"] == "jpg":
        values["bg_color"] = (255, 255, 255, 255)  # JPEG has no transparency: white, as remove.bg


def parse_crop_margin(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    margin = " ".join(_text(params, "crop_margin", option.default).split())
    if re.fullmatch(option.pattern, margin) is None:
        raise InvalidOption(
            "crop_margin",
            "must be pixels like '30' or '30px', or a percentage up to 50%; one value, or two or four "
            f"('10px 20px', '10px 20px 10px 5%'), not {margin!r}",
        )
    sides = [side if side.endswith(("px", "%")) else f"{side}px" for side in margin.split()]
    if len(sides) == 1:
        values["crop_margin"] = int(margin.rstrip("px%"))
        values["crop_margin_percent"] = margin.endswith("%")
    else:
        values["crop_margin_sides"] = tuple(sides * 2 if len(sides) == 2 else sides)


def parse_size(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    size = _text(params, "size", option.default).lower()
    size = option.aliases.get(size, size)
    if size == AUTO_SIZE:
        size = context.auto_size()
    if size == PREVIEW_SIZE:
        values["size_preview"] = True
    elif size in SIZE_PIXELS:
        values["size_max_pixels"] = SIZE_PIXELS[size]
    elif size != FULL_SIZE:
        bound = re.fullmatch(r"(\d{1,5})x(\d{1,5})", size)
        if bound is None or 0 in (int(bound.group(1)), int(bound.group(2))):
            words = ", ".join(option.values)
            raise InvalidOption("size", f"must be {words} or WIDTHxHEIGHT like 800x600, not {size!r}")
        values["size_bound"] = (int(bound.group(1)), int(bound.group(2)))


def parse_model(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    model = _text(params, "model", context.default_model)
    if model not in context.models:
        installed = ", ".join(sorted(context.models)) or "none"
        raise InvalidOption("model", f"{model!r} is not installed; installed: {installed}")
    values["model"] = model


def parse_alpha_matting(
    option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext
) -> None:
    # Its tuning values are checked with it off too: a client learns of a bad one now, not once it turns matting on.
    tuning = tuple(param.read(params) for param in ALPHA_MATTING_TUNING)
    if yes_or_no(params, "alpha_matting"):
        values["alpha_matting"] = tuning


def parse_roi(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    roi = ["0px" if value == "0" else value for value in _text(params, "roi", "").split()]  # 0 needs no unit
    if roi and roi != ["0%", "0%", "100%", "100%"]:
        if re.fullmatch(option.pattern, " ".join(roi)) is None:
            raise InvalidOption("roi", "must be four values like '10% 10% 90% 90%' or '0px 0px 400px 300px'")
        if roi_is_empty_in_any_image(roi):
            raise InvalidOption(
                "roi",
                f"the box {' '.join(roi)!r} has no area: x2 must be greater than x1 and y2 greater than y1, "
                "with x1 and y1 inside the image",
            )
        values["roi"] = tuple(roi)


def parse_scale(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    scale = _text(params, "scale", option.default).lower()
    if scale != "original":
        found = re.fullmatch(r"(\d{1,3})%", scale)
        if found is None or not 10 <= int(found.group(1)) <= 100:
            raise InvalidOption("scale", f"must be original or a percentage from 10% to 100%, not {scale!r}")
        values["scale_percent"] = int(found.group(1))


def parse_position(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    position = _text(params, "position", option.default).lower()
    if position == "center":
        values["position"] = (50, 50)
    elif position != "original":
        found = re.fullmatch(r"(\d{1,3})%(?: (\d{1,3})%)?", position)
        if found is None or int(found.group(1)) > 100 or int(found.group(2) or 0) > 100:
            raise InvalidOption("position", f"must be original, center, or 'X% Y%', not {position!r}")
        values["position"] = (int(found.group(1)), int(found.group(2) or found.group(1)))
    elif "scale_percent" in values:
        values["position"] = (50, 50)  # a scaled subject is centred unless told otherwise, as remove.bg


def parse_shadow(option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext) -> None:
    shadow = _text(params, "add_shadow", _text(params, "shadow", "false")).lower()
    if shadow not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption("add_shadow", f"must be true or false, not {shadow!r}")
    opacity = SHADOW_OPACITY.read(params)  # checked without a shadow too, as alpha matting's
    if shadow in TRUE_WORDS or _text(params, "shadow_type", NO_SHADOW_TYPE).lower() != NO_SHADOW_TYPE:
        values["shadow_opacity"] = opacity


def background_elsewhere(
    option: Option, params: Mapping[str, Any], values: dict[str, Any], context: ParseContext
) -> None:
    """bg_image is a file or a URL, read by removal.web.inputs; services stores it and sets bg_image_sha256."""


def parse_color(text: str) -> tuple[int, int, int, int]:
    """'ff0000', '#ff0000cc', 'f00', 'f00c' or a CSS name -> RGBA."""
    from PIL import ImageColor  # here: Pillow (0.15 s) would load in every process that reads options

    candidate = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8}", candidate):
        candidate = "#" + candidate
    try:
        color = ImageColor.getrgb(candidate)
    except ValueError:
        raise InvalidOption(
            "bg_color", f"must be a hex colour like ff0000 or #ff0000cc, or a colour name, not {text!r}"
        ) from None
    return (*color[:3], color[3] if len(color) == 4 else 255)


def yes_or_no(params: Mapping[str, Any], name: str, default: str = "false") -> bool:
    """The parameter `name` as a yes/no (its words YES_NO_WORDS, any case, or JSON true/false); InvalidOption naming
    it for any other word, which would otherwise be read as no; `default` when it is blank."""
    word = _text(params, name, default).lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption(name, f"must be true or false, not {word!r}")
    return word in TRUE_WORDS


def whole_number(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """The parameter `name` as a whole number from `low` to `high` (InvalidOption naming it otherwise); `default`
    when it is blank."""
    text = _text(params, name, str(default))
    if not text.isdecimal() or not low <= int(text) <= high:  # isdigit() also passes "²", which int() refuses
        raise InvalidOption(name, f"must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def is_blank(value: Any) -> bool:
    """Absent, or sent empty (a form's blank field, which some clients send for every option they were not
    given): either way the option's default applies."""
    return value is None or (isinstance(value, str) and not value.strip())


def is_true(value: object) -> bool:
    """A yes/no parameter such as /bgremove's `blob`: true, 1, yes or on (any case), or JSON true."""
    return str(value).strip().lower() in TRUE_WORDS


def _text(params: Mapping[str, Any], name: str, default: str) -> str:
    """The parameter as text; `default` when it is blank (is_blank)."""
    value = params.get(name)
    if is_blank(value):
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise InvalidOption(name, "must be a string")
    return str(value).strip()
