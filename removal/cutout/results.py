"""What the image core answers with and refuses with, without the libraries that make cutouts (numpy, Pillow,
the model's runtime): every process's services and views name these, and only some of them ever cut out an image
(removal.cutout.pipeline loads the rest at the first cutout)."""

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

ANIMATED_FORMATS = {"png", "webp", "gif"}  # APNG, animated WebP, GIF

# What Pillow's own decompression-bomb guard refuses, where the process has a limit of its own (MAX_IMAGE_PIXELS, set
# by removal.apps at start-up): decode.py hands it to Pillow when the first image loads them both.
pillow_pixel_limit: int | None = None

# The hand editor (static/js/editor-view.js, which reads it from the page) works on a copy of the mask at most this many
# pixels a side, and sends that copy; decode.decode_mask takes no mask smaller than it.
MASK_WORKING_SIDE = 2048

# A cutout below this confidence (confidence.py) needs a person's look (the operator's setting overrides it). On the
# real-photo set it flags 22 of 64 photos (34 %) and 17 of the 21 wrong ones (81 %); any value
# between 0.592 and 0.603 flags the same photos there.
DEFAULT_REVIEW_BELOW = 0.60


def needs_review(confidence_value: float, review_below: float = DEFAULT_REVIEW_BELOW) -> bool:
    return confidence_value < review_below


def gettext_noop(message: str) -> str:
    """Marks `message` for the catalogs (makemessages reads this name): a text of this layer, which has no Django,
    that a page shows in its reader's language (removal.translated)."""
    return message


class ImageRejected(ValueError):
    """The input is not an image we can process; the message is shown to the user: `template` % `values`, in
    English, or in a page's language by removal.translated. `option`: the option this image cannot take, where only
    the image could tell (a roi box that holds none of it, a roi on an animation), which remove.bg names as a bad
    value of it."""

    def __init__(self, template: str, /, *, option: str = "", **values: Any) -> None:
        self.template, self.values, self.option = template, values, option
        super().__init__(filled(template, values, english=template))


NUMBER_PLACEHOLDER = re.compile(r"%\((\w+)\)(\.\d+)?([sdfg])")  # %(count)s, %(megapixels).1f, %(limit)g
# A size is written as digits in every language (9000x9000, as `size=800x600` is), never grouped as a count is.
SIZE_PLACEHOLDERS = {"width", "height"}

# How a language writes a number: given the number and its placeholder's format ("", ".1f", "g"), its text.
NumberWriter = Callable[[int | float, str], str]


def filled(template: str, values: dict[str, Any], *, english: str, write_number: NumberWriter | None = None) -> str:
    """`template` % `values` (a translation of `english`), each number written by `write_number` (a language's
    decimal mark and digit grouping); or `english` % `values` when the translation's placeholders do not match
    them: a stale catalog shows English, never an error."""
    if not values:
        return template
    written = template, values
    if write_number is not None:
        written = _numbers_written(template, values, write_number)
    try:
        return written[0] % written[1]
    except (KeyError, ValueError, TypeError):
        return english % values


def _numbers_written(template: str, values: dict[str, Any], write_number: NumberWriter) -> tuple[str, dict[str, Any]]:
    """Each number placeholder of `template` as %(name)s, its number written beforehand by `write_number`."""
    shown = dict(values)

    def as_text(found: re.Match[str]) -> str:
        name, precision, kind = found.groups()
        number = values.get(name)
        if not isinstance(number, int | float) or isinstance(number, bool) or name in SIZE_PLACEHOLDERS:
            return found[0]
        shown[name] = write_number(number, f"{precision or ''}{'' if kind in 'sd' else kind}")
        return f"%({name})s"

    return NUMBER_PLACEHOLDER.sub(as_text, template), shown


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    animated: bool = False  # more than one frame (an animated GIF/WebP/PNG, or a video)
    video: bool = False


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


class ModelNotInstalled(RuntimeError):
    """The model weights are missing; processing cannot start (an operator problem)."""
