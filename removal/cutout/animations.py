"""Animated GIF, WebP and PNG: every frame through the model, the timing kept, cropped to one box for all frames."""

import io
import struct
from collections.abc import Callable
from typing import IO, Any

from PIL import GifImagePlugin, Image, ImageSequence, TiffImagePlugin

from removal.cutout.confidence import shows_a_subject
from removal.cutout.decode import is_animation
from removal.cutout.encode import encode_animation
from removal.cutout.options import Options
from removal.cutout.results import ANIMATED_FORMATS, Cutout, ImageInfo, ImageRejected, gettext_noop
from removal.cutout.stills import cut_out_image, finish

# A GIF's images are counted from its blocks up to this many times the frame limit, and Pillow counts them exactly
# only below that (_frame_count): what lies beyond is refused as "more than", unread.
GIF_FRAMES_COUNTED = 10


def decode_animation(data: bytes, *, max_pixels: int, max_frames: int) -> tuple[list[Image.Image], list[int]] | None:
    """The frames (RGBA) and their durations (ms) of an animated GIF/WebP/PNG; None for a still image."""
    with Image.open(io.BytesIO(data)) as opened:
        if not is_animation(opened) or _frame_count(opened, max_pixels=max_pixels, max_frames=max_frames) <= 1:
            return None
        frames, durations = [], []
        try:
            for frame in ImageSequence.Iterator(opened):
                frames.append(frame.convert("RGBA"))
                durations.append(int(frame.info.get("duration") or 100))
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageRejected(
                gettext_noop("the animation is truncated or corrupt (%(reason)s)"), reason=str(exc)
            ) from None
    return frames, durations


def check_animation(source: IO[bytes], *, max_pixels: int, max_frames: int) -> None:
    """ImageRejected for an animation that decode_animation would refuse (too many frames or pixels in all).

    Counting the frames reads the file through (not decoding pixels), so a front door can
    refuse such a file when it arrives rather than when a worker gets to it.
    """
    source.seek(0)
    try:
        with Image.open(source) as opened:
            _frame_count(opened, max_pixels=max_pixels, max_frames=max_frames)
    except ImageRejected:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(
            gettext_noop("the animation is truncated or corrupt (%(reason)s)"), reason=str(exc)
        ) from None
    finally:
        source.seek(0)


def _frame_count(opened: Image.Image, *, max_pixels: int, max_frames: int) -> int:
    """The frames of an opened image, or ImageRejected over max_frames, or over max_pixels in all frames."""
    counted = GIF_FRAMES_COUNTED * max_frames
    width, height = opened.size
    if isinstance(opened, GifImagePlugin.GifImageFile):
        images, (width, height) = _gif_images(opened.fp, at_most=counted)
        if images > counted:
            raise _more_frames_than(counted, limit=max_frames)
    if isinstance(opened, TiffImagePlugin.TiffImageFile):
        frame_count = _tiff_pages(opened, at_most=max_frames)
        if frame_count > max_frames:
            raise _more_frames_than(max_frames, limit=max_frames)
    else:
        frame_count = int(getattr(opened, "n_frames", 1))
    if frame_count > max_frames:
        raise ImageRejected(
            gettext_noop("the animation has %(frames)s frames; the limit is %(limit)s"),
            frames=frame_count,
            limit=max_frames,
        )
    total = width * height * frame_count
    if frame_count > 1 and total > max_pixels:
        raise ImageRejected(
            gettext_noop(
                "the animation has %(frames)s frames of %(width)sx%(height)s (%(megapixels).1f megapixels in all); "
                "the limit is %(limit)g megapixels"
            ),
            frames=frame_count,
            width=width,
            height=height,
            megapixels=total / 1e6,
            limit=max_pixels / 1e6,
        )
    return frame_count


def _more_frames_than(frames: int, *, limit: int) -> ImageRejected:
    """The refusal of an animation whose frames were counted no further than one past `frames`."""
    return ImageRejected(
        gettext_noop("the animation has more than %(frames)s frames; the limit is %(limit)s"),
        frames=frames,
        limit=limit,
    )


def _tiff_pages(opened: TiffImagePlugin.TiffImageFile, *, at_most: int) -> int:
    """A TIFF's pages, counted no further than one past `at_most`, each directory read once: Pillow's n_frames
    reads them all, in a time that grows with their square (a 2.3 MB TIFF of 20,000 one-pixel pages held the
    upload's thread 6 s, 40,000 pages 23 s)."""
    pages = 0
    try:
        while pages <= at_most:
            opened.seek(pages)
            pages += 1
    except EOFError:
        pass
    finally:
        opened.seek(0)
    return pages


def _gif_images(source: IO[bytes] | None, *, at_most: int) -> tuple[int, tuple[int, int]]:
    """The images in a GIF, read from its blocks only, counting no further than one past `at_most`, and the size
    of the canvas they cover.

    Pillow's n_frames walks every frame, in Python: a 23 MB GIF of a million 1x1 frames took 2.8 s of the upload's
    thread to be refused. A frame reaching past the logical screen makes Pillow's image that large, from that frame
    on: a 6 KB GIF whose 10x10 screen passed the pixel limit decoded 42 frames of 2000x2000 (700 MB). A file that
    ends early or holds an unknown block is counted as far as it goes; Pillow judges it next.
    """
    if source is None:  # a file Pillow has closed: nothing to count
        return 0, (0, 0)
    start = source.tell()
    try:
        source.seek(0)
        head = source.read(13)  # signature, version, logical screen descriptor
        width, height = struct.unpack("<2H", head[6:10]) if len(head) == 13 else (0, 0)
        _skip_colour_table(source, head[10] if len(head) == 13 else 0)
        images = 0
        while (block := source.read(1)) in (b"\x2c", b"\x21") and images <= at_most:
            if block == b"\x2c":  # an image: its descriptor, colour table and LZW code size, then its data
                images += 1
                descriptor = source.read(9)
                if len(descriptor) == 9:
                    left, top, frame_width, frame_height = struct.unpack("<4H", descriptor[:8])
                    width, height = max(width, left + frame_width), max(height, top + frame_height)
                _skip_colour_table(source, descriptor[8] if len(descriptor) == 9 else 0)
            source.read(1)  # the image's LZW code size, or the extension's label; then the data
            while (size := source.read(1)) not in (b"", b"\x00"):  # sub-blocks up to the empty one
                source.seek(size[0], io.SEEK_CUR)
        return images, (width, height)
    finally:
        source.seek(start)


def _skip_colour_table(source: IO[bytes], flags: int) -> None:
    if flags & 0x80:
        source.seek(3 << ((flags & 0x07) + 1), io.SEEK_CUR)


def _subject_union(cutouts: list[Image.Image]) -> tuple[int, int, int, int] | None:
    """The box that holds the subject in every frame that shows one (confidence.shows_a_subject); None if none does."""
    boxes = [box for cutout in cutouts if shows_a_subject(cutout) and (box := cutout.getbbox(alpha_only=True))]
    if not boxes:
        return None
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def cut_out_animation(
    frames: list[Image.Image],
    durations: list[int],
    *,
    session: Any,
    options: Options,
    on_frame: Callable[[int, int], None] | None,
    background: Image.Image | None = None,
    partner: Any = None,
) -> Cutout:
    """Every frame through the model; cropping (if asked) to the box that holds the subject in all frames."""
    cutouts, confidences = [], []
    for index, frame in enumerate(frames):
        cutout, sure = cut_out_image(frame, options, session=session, partner=partner)
        cutouts.append(cutout)
        confidences.append(sure)
        if on_frame is not None:
            on_frame(index + 1, len(frames))
    union = _subject_union(cutouts)
    foreground = (union[0], union[1], union[2] - union[0], union[3] - union[1]) if union else None
    if options.crop and union is not None:
        cutouts = [cutout.crop(union) for cutout in cutouts]
        foreground = (0, 0, union[2] - union[0], union[3] - union[1])
    results = [finish(cutout, options, background) for cutout in cutouts]
    first = results[0]
    return Cutout(
        data=encode_animation(results, durations, fmt=options.format),
        width=first.width,
        height=first.height,
        mime_type=options.mime_type,
        extension=options.extension,
        foreground=foreground,
        frames=len(frames),
        confidence=min(confidences),
    )


def comes_out_animated(info: ImageInfo, options: Options, *, max_frames: int) -> bool:
    """Whether cut_out makes every frame of this input (an animation in a format that animates, or a video)."""
    return max_frames > 1 and (info.video or (info.animated and options.format in ANIMATED_FORMATS))
