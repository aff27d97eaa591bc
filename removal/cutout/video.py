"""Short videos (MP4, MOV, WebM, MKV) in: a zip of transparent PNG frames and a WebM with alpha out.

ffmpeg comes from the imageio-ffmpeg wheel (no system package needed). No
Django here, like removal.cutout.pipeline, which calls cut_out for video inputs.
"""

import re
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import imageio_ffmpeg
from PIL import Image

from removal.cutout.options import Options
from removal.cutout.results import Cutout, ImageRejected, gettext_noop
from removal.cutout.stills import cut_out_image

WEBM_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML: WebM and Matroska
MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"qt  ", b"dash"}


class VideoRejected(ImageRejected):
    """Not a video we can read, or over the limits; the message says which."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    seconds: float
    frames: int


def looks_like_video(head: bytes) -> bool:
    return head[:4] == WEBM_MAGIC or (head[4:8] == b"ftyp" and head[8:12] in MP4_BRANDS)


def _as_file(data: bytes) -> Any:
    temporary = tempfile.NamedTemporaryFile(suffix=".video")  # noqa: SIM115 (closed by the caller)
    temporary.write(data)
    temporary.flush()
    return temporary


def probe(data: bytes, *, max_seconds: float, max_frames: int, max_pixels: int) -> VideoInfo:
    """Size, rate and length, read from the container; refuses what is over the limits."""
    with _as_file(data) as source:
        reader = imageio_ffmpeg.read_frames(source.name)
        try:
            meta = next(reader)
        except (RuntimeError, OSError, StopIteration) as exc:
            raise VideoRejected(
                gettext_noop("not a video we can read (%(reason)s)"), reason=str(exc).splitlines()[0][:120]
            ) from None
        finally:
            reader.close()
        width, height = meta["size"]
        fps = float(meta.get("fps") or 0) or 25.0
        stated_seconds = float(meta.get("duration") or 0)
        if stated_seconds > max_seconds:  # refused below by what it states, its packets unread
            frames, seconds, cut_short = round(stated_seconds * fps), stated_seconds, False
        else:  # counted: a container may state no length (a browser's MediaRecorder), or more than the file holds
            frames, seconds, cut_short = _counted(source.name, fps=fps)
    if cut_short and frames < round(stated_seconds * fps) - 1:
        raise VideoRejected(
            gettext_noop("the video file is cut short: its frames stop at %(seconds).1f s of %(stated).1f s"),
            seconds=seconds,
            stated=stated_seconds,
        )
    if seconds > max_seconds:
        raise VideoRejected(
            gettext_noop("the video is %(seconds).1f s long; the limit is %(limit)g s"),
            seconds=seconds,
            limit=max_seconds,
        )
    if frames > max_frames:
        raise VideoRejected(
            gettext_noop("the video has about %(frames)s frames; the limit is %(limit)s"),
            frames=frames,
            limit=max_frames,
        )
    if width * height > max_pixels:
        raise VideoRejected(
            gettext_noop("the video is %(width)sx%(height)s; the limit is %(limit)g megapixels a frame"),
            width=width,
            height=height,
            limit=max_pixels / 1e6,
        )
    return VideoInfo(width=width, height=height, fps=fps, seconds=seconds, frames=frames)


# "frame=  600 … time=00:00:20.00": ffmpeg's last progress line, once it has read every packet.
PROGRESS = re.compile(rb"frame=\s*(\d+)\b.*?time=(\d+):(\d+):(\d+(?:\.\d+)?)")
# What ffmpeg's demuxers say of a file that ends before its data does (Matroska and WebM; MP4 and MOV).
CUT_SHORT = re.compile(rb"File ended prematurely|partial file")


def _counted(path: str, *, fps: float) -> tuple[int, float, bool]:
    """The frames and seconds of the first video stream, its packets read without decoding them (20 ms for 600),
    and whether the file ends before its data does.

    Without it a clip that stated no length passed MAX_VIDEO_SECONDS whatever its length, and one of more than
    MAX_ANIMATION_FRAMES failed only once its worker had cut out that many frames (37 s for a 20 s clip of 64x48);
    a file cut short (an upload or copy broken off) was cut out as far as it went and called done.
    """
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-stats", "-i", path]
    command += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    try:  # a fixed command, no shell; the path is our own temporary file
        said = subprocess.run(command, capture_output=True, timeout=30, check=False).stderr  # noqa: S603
    except subprocess.TimeoutExpired:
        said = b""
    if not (found := PROGRESS.findall(said)):
        raise VideoRejected(gettext_noop("not a video we can read (%(reason)s)"), reason="its length cannot be read")
    count, hours, minutes, seconds = found[-1]
    measured = max(int(hours) * 3600 + int(minutes) * 60 + float(seconds), int(count) / fps)
    return int(count), measured, CUT_SHORT.search(said) is not None


def frames(data: bytes) -> Iterator[tuple[Image.Image, float, int]]:
    """The video's frames as RGB images, with the frame rate and the number of frames its container states (from
    its duration; 0 when it states none)."""
    with _as_file(data) as source:
        reader = imageio_ffmpeg.read_frames(source.name, pix_fmt="rgb24")
        meta = next(reader)
        size, fps = tuple(meta["size"]), float(meta.get("fps") or 25)
        stated = round(float(meta.get("duration") or 0) * fps)
        for raw in reader:
            yield Image.frombytes("RGB", size, raw), fps, stated


def cut_out_video(
    data: bytes,
    *,
    cut_frame: Callable[[Image.Image], Image.Image],
    max_frames: int,
    on_frame: Callable[[int, int], None] | None = None,
) -> IO[bytes]:
    """A zip with frames/00001.png… (each frame's RGBA cutout) and cutout.webm (VP9 with alpha), in a
    temporary file that closing deletes: 300 frames of 4K make a zip of about a gigabyte."""
    archive_file = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it; closed here on failure)
    try:
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(archive_file, "w") as archive:
            webm = Path(folder) / "cutout.webm"
            _frames_written(
                data,
                archive,
                webm,
                cut_frame=cut_frame,
                max_frames=max_frames,
                on_frame=on_frame,
            )
            archive.write(webm, "cutout.webm")
    except BaseException:
        archive_file.close()
        raise
    archive_file.seek(0)
    return archive_file


def _frames_written(
    data: bytes,
    archive: zipfile.ZipFile,
    webm: Path,
    *,
    cut_frame: Callable[[Image.Image], Image.Image],
    max_frames: int,
    on_frame: Callable[[int, int], None] | None,
) -> None:
    """Each frame's cutout into `archive` as a PNG and into `webm` as a VP9 frame with alpha; `on_frame(done, total)`
    after each, the total as the container states it (or as many as are done, when more come than it says)."""
    writer = None
    for count, (frame, fps, stated) in enumerate(frames(data), start=1):
        if count > max_frames:
            raise VideoRejected(gettext_noop("the video has more than %(limit)s frames"), limit=max_frames)
        cutout = cut_frame(frame).convert("RGBA")
        with archive.open(f"frames/{count:05d}.png", "w") as member:
            cutout.save(member, "PNG", compress_level=1)
        if writer is None:
            writer = _webm_writer(webm, cutout.size, fps)
        writer.send(cutout.tobytes())
        if on_frame is not None:
            on_frame(count, max(count, stated))
    if writer is None:
        raise VideoRejected(gettext_noop("the video has no frames"))
    writer.close()


def _webm_writer(webm: Path, size: tuple[int, int], fps: float) -> Any:
    writer = imageio_ffmpeg.write_frames(
        str(webm),
        size,
        pix_fmt_in="rgba",
        pix_fmt_out="yuva420p",
        fps=fps,
        codec="libvpx-vp9",
        macro_block_size=1,
        output_params=["-auto-alt-ref", "0", "-b:v", "0", "-crf", "32"],
    )
    writer.send(None)
    return writer


def cut_out(
    data: bytes,
    *,
    session: Any,
    options: Options,
    max_frames: int,
    on_frame: Callable[[int, int], None] | None,
    partner: Any = None,
) -> Cutout:
    """A zip of transparent PNG frames and a WebM with alpha (size applies; other options do not);
    its confidence is its least confident frame's."""
    made: list[tuple[tuple[int, int], float]] = []  # each frame's cutout size and confidence, as it is zipped

    def cut_frame(frame: Image.Image) -> Image.Image:
        cutout, sure = cut_out_image(frame, options, session=session, partner=partner)
        made.append((cutout.size, sure))
        return cutout

    archive_file = cut_out_video(data, cut_frame=cut_frame, max_frames=max_frames, on_frame=on_frame)
    (width, height), _ = made[0]
    return Cutout(
        data=b"",
        file=archive_file,
        width=width,
        height=height,
        mime_type="application/zip",
        extension="zip",
        frames=len(made),
        confidence=min(sure for _, sure in made),
    )
