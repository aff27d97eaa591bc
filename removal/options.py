"""Output options, parsed once from a request and applied by the pipeline.

The same names in /bgremove (query, form or JSON), the batch API (fields sent
with the files that create a batch; they apply to the whole batch) and the
remove.bg-compatible endpoint. A bad value is an InvalidOption naming the field.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
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
CHANNELS = ("rgba", "alpha")
# fast: one model run and the mask clean-up; best: also the mirror image's mask, averaged (docs/quality.md).
QUALITIES = ("fast", "best")
PREVIEW_PIXELS = 250_000  # "preview": at most 0.25 megapixels, as remove.bg
OPTION_NAMES = (
    *("format", "bg_color", "crop", "crop_margin", "channels", "size", "model", "alpha_matting"),
    *("roi", "scale", "position", "add_shadow", "shadow_opacity", "quality"),
)
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


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
    """What `make quality` last measured on real photos, per model and preset, for `models`."""
    try:
        measured = json.loads(MEASURED_QUALITY.read_text())
    except (OSError, ValueError):
        return {}
    return {
        "photos": measured.get("photos"),
        "measured_on": measured.get("measured_on"),
        "models": {name: figures for name, figures in measured.get("models", {}).items() if name in models},
    }


def installed_models(model_dir: Path) -> list[str]:
    names = {path.stem for path in model_dir.glob("*.onnx")} | {path.stem for path in model_dir.glob("models/*/*.onnx")}
    return sorted(names)


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
    values: dict[str, Any] = {}
    fmt = _text(params, "format", default_format).lower()
    fmt = {"jpeg": "jpg"}.get(fmt, fmt)
    if fmt not in (*FORMATS, AUTO_FORMAT):
        raise InvalidOption(f"format: must be one of {', '.join((*FORMATS, AUTO_FORMAT))}, not {fmt!r}")
    bg_color = parse_color(text) if (text := _text(params, "bg_color", "")) else None
    if fmt == AUTO_FORMAT:
        opaque = background or (bg_color is not None and bg_color[3] == 255)
        fmt = "jpg" if opaque and _text(params, "channels", "rgba").lower() == "rgba" else "png"
    values["format"] = fmt

    if bg_color is not None:
        values["bg_color"] = bg_color
    elif fmt == "jpg":
        values["bg_color"] = (255, 255, 255, 255)  # JPEG has no transparency: white, as remove.bg

    crop = _text(params, "crop", "false").lower()
    if crop not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption(f"crop: must be true or false, not {crop!r}")
    values["crop"] = crop in TRUE_WORDS
    margin = _text(params, "crop_margin", "0")
    found = re.fullmatch(r"(\d{1,4})(px|%)?", margin)
    if found is None or (found.group(2) == "%" and int(found.group(1)) > 50):
        raise InvalidOption(
            f"crop_margin: must be pixels like '30' or '30px', or a percentage up to 50%, not {margin!r}"
        )
    values["crop_margin"] = int(found.group(1))
    values["crop_margin_percent"] = found.group(2) == "%"

    channels = _text(params, "channels", "rgba").lower()
    if channels not in CHANNELS:
        raise InvalidOption(f"channels: must be rgba or alpha, not {channels!r}")
    values["channels"] = channels

    size = _text(params, "size", "full").lower()
    if size in ("preview", "small", "regular"):
        values["size_preview"] = True
    elif size not in ("full", "auto", "4k", "hd", "medium"):
        bound = re.fullmatch(r"(\d{1,5})x(\d{1,5})", size)
        if bound is None or 0 in (int(bound.group(1)), int(bound.group(2))):
            raise InvalidOption(f"size: must be preview, full or WIDTHxHEIGHT like 800x600, not {size!r}")
        values["size_bound"] = (int(bound.group(1)), int(bound.group(2)))

    matting = _text(params, "alpha_matting", "false").lower()
    if matting not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption(f"alpha_matting: must be true or false, not {matting!r}")
    if matting in TRUE_WORDS:
        values["alpha_matting"] = (
            _number(params, "alpha_matting_foreground_threshold", 240, 0, 255),
            _number(params, "alpha_matting_background_threshold", 10, 0, 255),
            _number(params, "alpha_matting_erode_size", 10, 0, 40),
        )

    roi = _text(params, "roi", "").split()
    if roi and roi != ["0%", "0%", "100%", "100%"]:
        if len(roi) != 4 or not all(re.fullmatch(r"\d{1,5}(px|%)", token) for token in roi):
            raise InvalidOption("roi: must be four values like '10% 10% 90% 90%' or '0px 0px 400px 300px'")
        values["roi"] = tuple(roi)
    scale = _text(params, "scale", "original").lower()
    if scale != "original":
        found_scale = re.fullmatch(r"(\d{1,3})%", scale)
        if found_scale is None or not 10 <= int(found_scale.group(1)) <= 100:
            raise InvalidOption(f"scale: must be original or a percentage from 10% to 100%, not {scale!r}")
        values["scale_percent"] = int(found_scale.group(1))
    position = _text(params, "position", "original").lower()
    if position == "center":
        values["position"] = (50, 50)
    elif position != "original":
        found_position = re.fullmatch(r"(\d{1,3})%(?: (\d{1,3})%)?", position)
        if found_position is None or int(found_position.group(1)) > 100 or int(found_position.group(2) or 0) > 100:
            raise InvalidOption(f"position: must be original, center, or 'X% Y%', not {position!r}")
        values["position"] = (int(found_position.group(1)), int(found_position.group(2) or found_position.group(1)))
    elif "scale_percent" in values:
        values["position"] = (50, 50)  # a scaled subject is centred unless told otherwise, as remove.bg

    shadow = _text(params, "add_shadow", _text(params, "shadow", "false")).lower()
    if shadow not in TRUE_WORDS | FALSE_WORDS:
        raise InvalidOption(f"add_shadow: must be true or false, not {shadow!r}")
    if shadow in TRUE_WORDS or params.get("shadow_type"):
        values["shadow_opacity"] = _number(params, "shadow_opacity", 50, 0, 100)

    quality = _text(params, "quality", "fast").lower()
    if quality not in QUALITIES:
        raise InvalidOption(f"quality: must be one of {', '.join(QUALITIES)}, not {quality!r}")
    values["quality"] = quality

    model = _text(params, "model", default_model)
    available = installed_models(model_dir)
    if model not in available:
        raise InvalidOption(f"model: {model!r} is not installed; installed: {', '.join(available) or 'none'}")
    values["model"] = model
    return Options(**values)


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
