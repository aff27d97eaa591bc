"""Which way each input goes: a still, an animation or a video, to stills.py, animations.py or video.py."""

import io
from collections.abc import Callable
from typing import IO, Any

from PIL import Image

from removal.cutout import video
from removal.cutout.animations import cut_out_animation, decode_animation
from removal.cutout.cores import counted_in_progress
from removal.cutout.decode import decode_image, inspect_image
from removal.cutout.options import Options
from removal.cutout.results import ANIMATED_FORMATS, Cutout, ImageInfo
from removal.cutout.stills import DEFAULT_OPTIONS, cut_out_still


def is_video(source: IO[bytes]) -> bool:
    """Whether `source` starts as an MP4/MOV or a WebM/MKV does (read from its start; left there)."""
    source.seek(0)
    head = source.read(12)
    source.seek(0)
    return video.looks_like_video(head)


def inspect_upload(source: IO[bytes], *, max_pixels: int, max_frames: int, max_video_seconds: float) -> ImageInfo:
    """inspect_image, or for a video the size of its frames (format MP4 or WEBM)."""
    if not is_video(source):
        return inspect_image(source, max_pixels=max_pixels)
    video_bytes = source.read()
    source.seek(0)
    info = video.probe(video_bytes, max_seconds=max_video_seconds, max_frames=max_frames, max_pixels=max_pixels)
    return ImageInfo(
        format="WEBM" if video_bytes[:4] == video.WEBM_MAGIC else "MP4",
        width=info.width,
        height=info.height,
        animated=True,
        video=True,
    )


def cut_out(
    data: bytes,
    *,
    session: Any,
    max_pixels: int,
    compress_level: int,
    options: Options = DEFAULT_OPTIONS,
    max_frames: int = 1,
    on_frame: Callable[[int, int], None] | None = None,
    background: Image.Image | None = None,
    partner: Any = None,
    thumbnail: bool = False,
) -> Cutout:
    """The whole pipeline: image file bytes to the cutout in the requested form (a transparent PNG by default).

    `partner` is a second model's session that `quality=best` averages in. `thumbnail`: a still's
    cutout comes with its thumbnail (an animation's is made when asked for, from its first frame).

    An animation (with max_frames > 1 and a format that can animate) comes out
    animated, every frame processed and its timing kept; `on_frame(done, total)`
    reports progress.
    """
    with counted_in_progress():  # what ModelSessions goes by
        if max_frames > 1 and video.looks_like_video(data[:12]):
            return video.cut_out(
                data, session=session, options=options, max_frames=max_frames, on_frame=on_frame, partner=partner
            )
        if max_frames > 1 and options.format in ANIMATED_FORMATS:
            inspect_image(io.BytesIO(data), max_pixels=max_pixels)  # decode_image checks stills itself
            animation = decode_animation(data, max_pixels=max_pixels, max_frames=max_frames)
            if animation is not None:
                return cut_out_animation(
                    *animation,
                    session=session,
                    options=options,
                    on_frame=on_frame,
                    background=background,
                    partner=partner,
                )
        return cut_out_still(
            decode_image(data, max_pixels=max_pixels),
            options,
            session=session,
            partner=partner,
            background=background,
            compress_level=compress_level,
            thumbnail=thumbnail,
        )
