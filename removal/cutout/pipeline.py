"""Bytes in, cutout bytes out: inspect, decode, run the model, compose, encode.

No Django here: the batch jobs, /bgremove and the benchmarks call these
functions directly. Model sessions are created once per thread and reused,
or, on the shared layout (ORT_LAYOUT), once per process for all threads.
"""

import dataclasses
import io
import math
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps, ImageSequence, UnidentifiedImageError

from removal.cutout import providers, refine, u2net, video
from removal.cutout.options import PREVIEW_PIXELS, Options, model_weights

DEFAULT_OPTIONS = Options()

# Formats Pillow decodes that we accept; anything else is refused up front.
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "AVIF", "GIF", "BMP", "TIFF", "MPO"}
ACCEPTED_NAMES = "JPEG, PNG, WebP, AVIF, GIF, BMP or TIFF"
# ISO-BMFF brands of HEIC/HEIF photos (iPhones), which Pillow cannot read.
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


EXIF_ORIENTATION = 0x0112
# Orientations whose display turns the stored image by 90 degrees.
ROTATED_A_QUARTER = {5, 6, 7, 8}


class ImageRejected(ValueError):
    """The input is not an image we can process; the message is shown to the user."""


class ModelNotInstalled(RuntimeError):
    """The model weights are missing; processing cannot start (an operator problem)."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    animated: bool = False  # more than one frame (an animated GIF/WebP/PNG, or a video)
    video: bool = False


@dataclass(frozen=True)
class Cutout:
    data: bytes
    width: int
    height: int
    mime_type: str
    extension: str
    # Where the subject is in the result: (left, top, width, height); None if nothing was found.
    foreground: tuple[int, int, int, int] | None = None
    frames: int = 1
    # A still's alpha before layout (placing, cropping, background), as an L PNG in the
    # photo's frame: what a hand edit starts from (see decode_mask, recompose).
    mask_png: bytes | None = None


def inspect_image(source: IO[bytes], *, max_pixels: int) -> ImageInfo:
    """Check, without decoding pixel data, that `source` is an image we accept.

    Reads only the header, so it is cheap enough to run on every upload.
    """
    source.seek(0, io.SEEK_END)
    if source.tell() == 0:
        raise ImageRejected("the file is empty")
    source.seek(0)
    try:
        with Image.open(source) as image:
            width, height = image.width, image.height
            if image.getexif().get(EXIF_ORIENTATION) in ROTATED_A_QUARTER:
                width, height = height, width  # as displayed, and as the cutout will be
            animated = bool(getattr(image, "is_animated", False))
            info = ImageInfo(format=image.format or "", width=width, height=height, animated=animated)
    except UnidentifiedImageError:
        source.seek(0)
        head = source.read(12)
        if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
            raise ImageRejected(
                f"HEIC/HEIF images are not supported; convert to JPEG or send {ACCEPTED_NAMES}"
            ) from None
        raise ImageRejected(f"not an image we can read; send {ACCEPTED_NAMES}") from None
    except Image.DecompressionBombError as exc:
        raise ImageRejected(_bomb_message(exc, max_pixels)) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"the image header is corrupt ({exc})") from None
    finally:
        source.seek(0)
    if info.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{info.format or 'this'} images are not supported; send {ACCEPTED_NAMES}")
    if info.width * info.height > max_pixels:
        raise ImageRejected(_too_many_pixels_message(info.width, info.height, max_pixels))
    return info


def _too_many_pixels_message(width: int, height: int, max_pixels: int) -> str:
    return (
        f"the image is {width}x{height} ({width * height / 1e6:.1f} megapixels); "
        f"the limit is {max_pixels / 1e6:g} megapixels"
    )


def _bomb_message(exc: Image.DecompressionBombError, max_pixels: int) -> str:
    """Pillow refused to open the image at all; its message holds the pixel count."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too large to decode safely"
    return f"the image is {size}; the limit is {max_pixels / 1e6:g} megapixels"


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode fully, apply EXIF orientation, and return an RGB or RGBA image."""
    inspect_image(io.BytesIO(data), max_pixels=max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError as exc:
        raise ImageRejected(_bomb_message(exc, max_pixels)) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"the image data is truncated or corrupt ({exc})") from None
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits rather than clipping everything to white.
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    has_alpha = image.mode in ("LA", "PA", "La") or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


_sessions = threading.local()
_making_sessions = threading.RLock()  # the solo session makes the arena: nested
_counter_lock = threading.Lock()
_solo_sessions: dict[str, Any] = {}
_shared_sessions: dict[str, Any] = {}
_cutouts_in_progress = 0
_env_arena_registered = False


class ModelSessions:
    """How one worker thread runs a model: on its own single-threaded session, or alone on every core.

    Two images processed side by side run fastest each on its own single-threaded
    session (measured in docs/benchmarks.md). An image that is the only one in
    progress in this process instead runs on the process's solo session of
    `solo_threads` intra-op threads, so a lone /bgremove call uses every core as
    `rembg s` does. All sessions allocate from one process-wide arena, so the
    solo session holds no memory of its own.
    """

    def __init__(self, model_name: str, model_dir: Path, *, solo_threads: int) -> None:
        self.single = create_session(model_name, model_dir)
        self.solo = _solo_session(model_name, model_dir, solo_threads) if solo_threads > 1 else None

    def predict(self, image: Image.Image) -> Any:
        if self.solo is not None and _cutouts_in_progress <= 1:
            return self.solo.predict(image)
        return self.single.predict(image)


def model_session(model_name: str, model_dir: Path, *, solo_threads: int = 1) -> Any:
    """What the calling worker thread runs `model_name` on, in this process's layout (providers.layout()):
    the process's one session of it (shared), or the thread's own sessions (per-thread)."""
    layout = providers.layout()
    if layout.name == providers.SHARED:
        return shared_session(
            model_name,
            model_dir,
            threads=solo_threads,
            max_batch=layout.max_batch,
            batch_wait_seconds=layout.batch_wait_ms / 1000,
        )
    return thread_session(model_name, model_dir, solo_threads=solo_threads)


def shared_session(model_name: str, model_dir: Path, *, threads: int, max_batch: int, batch_wait_seconds: float) -> Any:
    """The process's one session for `model_name`, which every worker thread runs (the shared layout).

    It has `threads` intra-op threads: on the CPU, each run (often a batch) uses every core.
    """
    with _making_sessions:
        if model_name not in _shared_sessions:
            _shared_sessions[model_name] = create_session(
                model_name, model_dir, threads=threads, max_batch=max_batch, batch_wait_seconds=batch_wait_seconds
            )
        return _shared_sessions[model_name]


def thread_session(model_name: str, model_dir: Path, *, solo_threads: int = 1) -> ModelSessions:
    """The calling thread's sessions for `model_name`, created on first use (the per-thread layout)."""
    sessions: dict[str, ModelSessions] = _sessions.__dict__.setdefault("by_model", {})
    if model_name not in sessions:
        sessions[model_name] = ModelSessions(model_name, model_dir, solo_threads=solo_threads)
    return sessions[model_name]


def best_partner(quality: str, model_name: str, partner_name: str, model_dir: Path) -> Any:
    """The calling thread's session for the second model that `quality=best` averages in: `partner_name`,
    when it is installed and is not the model itself (the operator's QUALITY_BEST_PARTNER)."""
    if quality != "best" or not partner_name or partner_name == model_name:
        return None
    if model_weights(model_dir, partner_name) is None:
        return None
    return model_session(partner_name, model_dir)


def _solo_session(model_name: str, model_dir: Path, threads: int) -> Any:
    with _making_sessions:
        if model_name not in _solo_sessions:
            _solo_sessions[model_name] = create_session(model_name, model_dir, threads=threads)
        return _solo_sessions[model_name]


@contextmanager
def _counted_in_progress() -> Iterator[None]:
    global _cutouts_in_progress
    with _counter_lock:
        _cutouts_in_progress += 1
    try:
        yield
    finally:
        with _counter_lock:
            _cutouts_in_progress -= 1


def _register_env_arena(ort: Any) -> None:
    """One CPU arena for every session of the process, grown only by what a run asks for.

    Each session's own arena would keep its largest run's activations for
    good; shared, the arena holds what the runs in progress at one time need.
    """
    global _env_arena_registered
    with _making_sessions:
        if not _env_arena_registered:
            memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(memory, ort.OrtArenaCfg({"arena_extend_strategy": 1}))  # kSameAsRequested
            _env_arena_registered = True


def create_session(
    model_name: str, model_dir: Path, *, threads: int = 1, max_batch: int = 1, batch_wait_seconds: float = 0.0
) -> Any:
    """A session of `model_name` with `threads` intra-op threads; U²-Net models run up to `max_batch`
    concurrent callers' images in one batch when their graph allows (removal.cutout.u2net.open_session)."""
    weights = model_weights(model_dir, model_name)
    if weights is None:
        # rembg would try to download the weights; we never fetch at run time.
        raise ModelNotInstalled(
            f"model weights for {model_name!r} not found in {model_dir}; run `make setup` to install them"
        )
    import onnxruntime as ort

    _register_env_arena(ort)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.use_env_allocators", "1")
    if threads > 1:
        # Its threads sleep between runs instead of spinning on cores the single-threaded sessions need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if model_name in u2net.U2NET_MODELS:
        # rembg's prediction without importing rembg
        return u2net.open_session(
            weights, options, providers.active(), max_batch=max_batch, batch_wait_seconds=batch_wait_seconds
        )
    from rembg import new_session

    # rembg finds weights only through $U2NET_HOME (and downloads them when they
    # are not there); point it at ours so it never goes to the network.
    os.environ["U2NET_HOME"] = str(model_dir)
    return new_session(model_name, sess_opts=options, providers=providers.active())


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
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    alpha = refine.refine_alpha(predict_mask(rgb, session=session, quality=quality, partner=partner))
    if matting is not None:
        from rembg.bg import alpha_matting_cutout

        try:
            matted = alpha_matting_cutout(rgb, Image.fromarray(alpha), *matting)
            alpha = np.asarray(matted.getchannel("A"), dtype=np.uint8)
        except ValueError:
            pass  # matting finds no unknown region on some masks; the model's mask stands, as in rembg
    return compose_cutout(image, alpha)


def compose_cutout(image: Image.Image, alpha: np.ndarray) -> Image.Image:
    """`image` made transparent by `alpha` (uint8, its size), soft edges' colours freed of the background.

    An input that already had transparency keeps it where the mask would show it.
    """
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    if image.mode == "RGBA":
        alpha = np.minimum(alpha, np.asarray(image.getchannel("A"), dtype=np.uint8))
    # Composed with Pillow rather than NumPy indexing (same pixels, a third of the time),
    # in place: no second full-size RGBA image at any moment.
    mask = Image.fromarray(alpha)
    cutout = refine.decontaminate(rgb, alpha).convert("RGBA")
    cutout.putalpha(mask)
    cutout.paste((0, 0, 0, 0), mask=mask.point(lambda value: 0 if value else 255))
    return cutout


def _cut_out_image(image: Image.Image, options: Options, *, session: Any, partner: Any) -> Image.Image:
    """One still image or frame at the requested size, through remove_background with the options' model settings."""
    return remove_background(
        fit_size(image, options),
        session=session,
        matting=options.alpha_matting,
        quality=options.quality,
        partner=partner,
    )


def predict_mask(rgb: Image.Image, *, session: Any, quality: str = "fast", partner: Any = None) -> np.ndarray:
    """The model's mask of `rgb` (uint8, its size).

    For "best", the mean of the masks of the photo and of its mirror image; with a
    `partner` session (a second model), the mean of that and the partner's mask.
    Measured on real photos (docs/quality.md): each step raises IoU.
    """
    (mask,) = session.predict(rgb)
    if quality != "best":
        return np.asarray(mask, dtype=np.uint8)
    (mirrored,) = session.predict(ImageOps.mirror(rgb))
    mean = (np.asarray(mask, dtype=np.float32) + np.asarray(ImageOps.mirror(mirrored), dtype=np.float32)) / 2
    if partner is not None:
        (partner_mask,) = partner.predict(rgb)
        mean = (mean + np.asarray(partner_mask, dtype=np.float32)) / 2
    return (mean + 0.5).astype(np.uint8)


def encode_png(image: Image.Image, *, compress_level: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def fit_size(image: Image.Image, options: Options) -> Image.Image:
    """Scale down (never up) to the requested size before the model runs."""
    width, height = image.size
    scale = 1.0
    if options.size_preview and width * height > PREVIEW_PIXELS:
        scale = math.sqrt(PREVIEW_PIXELS / (width * height))
    if options.size_bound is not None:
        scale = min(scale, options.size_bound[0] / width, options.size_bound[1] / height)
    if scale >= 1:
        return image
    target = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(target, Image.Resampling.LANCZOS)


def _roi_box(roi: tuple[str, str, str, str], size: tuple[int, int]) -> tuple[int, int, int, int]:
    def pixels(token: str, full: int) -> int:
        number = int(token.rstrip("px%"))
        return round(full * number / 100) if token.endswith("%") else number

    left, top, right, bottom = (pixels(token, size[index % 2]) for index, token in enumerate(roi))
    return left, top, max(left, right), max(top, bottom)


def place_subject(cutout: Image.Image, options: Options) -> Image.Image:
    """remove.bg's roi, scale and position: keep only the subject in the box, resize it, move it."""
    if options.roi is not None:
        inside = Image.new("L", cutout.size, 0)
        inside.paste(255, _roi_box(options.roi, cutout.size))
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


def crop_to_subject(cutout: Image.Image, options: Options) -> Image.Image:
    """Crop to the visible subject, plus a transparent margin (pixels or % of the subject's size)."""
    box = cutout.getchannel("A").getbbox()
    if box is None:
        return cutout  # nothing found: keep the whole image rather than return nothing
    left, top, right, bottom = box
    margin_x = margin_y = options.crop_margin
    if options.crop_margin_percent:
        margin_x = round((right - left) * options.crop_margin / 100)
        margin_y = round((bottom - top) * options.crop_margin / 100)
    subject = cutout.crop(box)
    if not margin_x and not margin_y:
        return subject
    canvas = Image.new("RGBA", (subject.width + 2 * margin_x, subject.height + 2 * margin_y), (0, 0, 0, 0))
    canvas.paste(subject, (margin_x, margin_y))
    return canvas


def add_shadow(cutout: Image.Image, opacity: int) -> Image.Image:
    """A soft drop shadow under the subject, offset down and right, `opacity` percent dark."""
    alpha = cutout.getchannel("A")
    reach = max(2, round(max(cutout.size) * 0.02))
    shade = alpha.point(lambda value: value * opacity // 100).filter(ImageFilter.GaussianBlur(reach))
    shadow = Image.new("RGBA", cutout.size, (0, 0, 0, 0))
    shadow.paste(
        (0, 0, 0, 255), (reach // 2, reach), shade.crop((0, 0, cutout.width - reach // 2, cutout.height - reach))
    )
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


ANIMATED_FORMATS = {"png", "webp", "gif"}  # APNG, animated WebP, GIF


def _cut_out_animation(
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
    cutouts = []
    for index, frame in enumerate(frames):
        cutouts.append(_cut_out_image(frame, options, session=session, partner=partner))
        if on_frame is not None:
            on_frame(index + 1, len(frames))
    boxes = [box for cutout in cutouts if (box := cutout.getchannel("A").getbbox())]
    union = (
        (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        if boxes
        else None
    )
    if options.crop and union is not None:
        cutouts = [cutout.crop(union) for cutout in cutouts]
    results = [finish(cutout, options, background) for cutout in cutouts]
    first = results[0]
    return Cutout(
        data=encode_animation(results, durations, fmt=options.format),
        width=first.width,
        height=first.height,
        mime_type=options.mime_type,
        extension=options.extension,
        foreground=(union[0], union[1], union[2] - union[0], union[3] - union[1])
        if union and not options.crop
        else None,
        frames=len(frames),
    )


def encode_animation(results: list[Image.Image], durations: list[int], *, fmt: str) -> bytes:
    """Frames as an animated PNG, WebP or GIF, each keeping its duration."""
    first, rest = results[0], results[1:]
    buffer = io.BytesIO()
    if fmt == "png":  # APNG: each frame replaces the last (no ghosting of transparent areas)
        first.save(buffer, "PNG", save_all=True, append_images=rest, duration=durations, loop=0, disposal=1, blend=0)
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


def _cut_out_video(
    data: bytes,
    *,
    session: Any,
    options: Options,
    max_frames: int,
    on_frame: Callable[[int, int], None] | None,
    partner: Any = None,
) -> Cutout:
    """A zip of transparent PNG frames and a WebM with alpha (size applies; other options do not)."""

    def cut_frame(frame: Image.Image) -> Image.Image:
        return _cut_out_image(frame, options, session=session, partner=partner)

    try:
        archive = video.cut_out_video(data, cut_frame=cut_frame, max_frames=max_frames, on_frame=on_frame)
    except video.VideoRejected as exc:
        raise ImageRejected(str(exc)) from None
    with zipfile.ZipFile(io.BytesIO(archive)) as listing:
        frame_names = [name for name in listing.namelist() if name.startswith("frames/")]
        with Image.open(listing.open(frame_names[0])) as first:
            size = first.size
    return Cutout(
        data=archive,
        width=size[0],
        height=size[1],
        mime_type="application/zip",
        extension="zip",
        frames=len(frame_names),
    )


def _color_and_alpha_zip(image: Image.Image, *, compress_level: int) -> bytes:
    """remove.bg's zip format: color.jpg (RGB) and alpha.png (the mask), to be recombined by the client."""
    rgba = image.convert("RGBA")
    color, alpha = io.BytesIO(), io.BytesIO()
    rgba.convert("RGB").save(color, "JPEG", quality=90)
    rgba.getchannel("A").save(alpha, "PNG", compress_level=compress_level)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("color.jpg", color.getvalue())
        bundle.writestr("alpha.png", alpha.getvalue())
    return archive.getvalue()


GIF_TRANSPARENT = 255  # the palette index that GIF frames use for transparency


def _gif_frame(image: Image.Image) -> Image.Image:
    """255 colours plus one transparent index (GIF has 1-bit transparency: alpha < 128 is clear)."""
    if image.mode != "RGBA":
        return image.convert("RGB").quantize(GIF_TRANSPARENT)
    paletted = image.convert("RGB").quantize(GIF_TRANSPARENT)
    paletted.paste(GIF_TRANSPARENT, mask=image.getchannel("A").point(lambda alpha: 255 if alpha < 128 else 0))
    paletted.info["transparency"] = GIF_TRANSPARENT
    return paletted


def encode(image: Image.Image, *, fmt: str, compress_level: int) -> bytes:
    if fmt == "zip":
        return _color_and_alpha_zip(image, compress_level=compress_level)
    if fmt == "png":
        return encode_png(image, compress_level=compress_level)
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, format="WEBP", quality=90, method=4)
    elif fmt == "gif":
        frame = _gif_frame(image)
        frame.save(buffer, format="GIF", transparency=frame.info.get("transparency"))
    else:
        image.convert("L" if image.mode == "L" else "RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def inspect_upload(source: IO[bytes], *, max_pixels: int, max_frames: int, max_video_seconds: float) -> ImageInfo:
    """inspect_image, or for a video the size of its frames (format MP4 or WEBM)."""
    source.seek(0)
    head = source.read(12)
    source.seek(0)
    if not video.looks_like_video(head):
        return inspect_image(source, max_pixels=max_pixels)
    data = source.read()
    source.seek(0)
    try:
        info = video.probe(data, max_seconds=max_video_seconds, max_frames=max_frames, max_pixels=max_pixels)
    except video.VideoRejected as exc:
        raise ImageRejected(str(exc)) from None
    return ImageInfo(
        format="WEBM" if head[:4] == video.WEBM_MAGIC else "MP4",
        width=info.width,
        height=info.height,
        animated=True,
        video=True,
    )


def comes_out_animated(info: ImageInfo, options: Options, *, max_frames: int) -> bool:
    """Whether cut_out makes every frame of this input (an animation in a format that animates, or a video)."""
    return max_frames > 1 and (info.video or (info.animated and options.format in ANIMATED_FORMATS))


def decode_animation(data: bytes, *, max_pixels: int, max_frames: int) -> tuple[list[Image.Image], list[int]] | None:
    """The frames (RGBA) and their durations (ms) of an animated GIF/WebP/PNG; None for a still image."""
    with Image.open(io.BytesIO(data)) as opened:
        if _frame_count(opened, max_pixels=max_pixels, max_frames=max_frames) <= 1:
            return None
        frames, durations = [], []
        try:
            for frame in ImageSequence.Iterator(opened):
                frames.append(frame.convert("RGBA"))
                durations.append(int(frame.info.get("duration") or 100))
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageRejected(f"the animation is truncated or corrupt ({exc})") from None
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
        raise ImageRejected(f"the animation is truncated or corrupt ({exc})") from None
    finally:
        source.seek(0)


def _frame_count(opened: Image.Image, *, max_pixels: int, max_frames: int) -> int:
    """The frames of an opened image, or ImageRejected over max_frames, or over max_pixels in all frames."""
    frame_count = int(getattr(opened, "n_frames", 1))
    if frame_count > max_frames:
        raise ImageRejected(f"the animation has {frame_count} frames; the limit is {max_frames}")
    total = opened.width * opened.height * frame_count
    if frame_count > 1 and total > max_pixels:
        raise ImageRejected(
            f"the animation has {frame_count} frames of {opened.width}x{opened.height} "
            f"({total / 1e6:.1f} megapixels in all); the limit is {max_pixels / 1e6:g} megapixels"
        )
    return frame_count


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
) -> Cutout:
    """The whole pipeline: image file bytes to the cutout in the requested form (a transparent PNG by default).

    `partner` is a second model's session that `quality=best` averages in.

    An animation (with max_frames > 1 and a format that can animate) comes out
    animated, every frame processed and its timing kept; `on_frame(done, total)`
    reports progress.
    """
    with _counted_in_progress():  # what ModelSessions goes by
        if max_frames > 1 and video.looks_like_video(data[:12]):
            return _cut_out_video(
                data, session=session, options=options, max_frames=max_frames, on_frame=on_frame, partner=partner
            )
        if max_frames > 1 and options.format in ANIMATED_FORMATS:
            inspect_image(io.BytesIO(data), max_pixels=max_pixels)  # decode_image checks stills itself
            animation = decode_animation(data, max_pixels=max_pixels, max_frames=max_frames)
            if animation is not None:
                return _cut_out_animation(
                    *animation,
                    session=session,
                    options=options,
                    on_frame=on_frame,
                    background=background,
                    partner=partner,
                )
        cutout = _cut_out_image(decode_image(data, max_pixels=max_pixels), options, session=session, partner=partner)
        laid_out = _laid_out(cutout, options, background, compress_level=compress_level)
        return dataclasses.replace(laid_out, mask_png=encode_png(cutout.getchannel("A"), compress_level=compress_level))


def _laid_out(cutout: Image.Image, options: Options, background: Image.Image | None, *, compress_level: int) -> Cutout:
    """The cutout placed, cropped, finished and encoded as the options ask."""
    cutout = place_subject(cutout, options)
    if options.crop:
        cutout = crop_to_subject(cutout, options)
    result = finish(cutout, options, background)
    box = cutout.getchannel("A").getbbox()
    return Cutout(
        foreground=(box[0], box[1], box[2] - box[0], box[3] - box[1]) if box else None,
        data=encode(result, fmt=options.format, compress_level=compress_level),
        width=result.width,
        height=result.height,
        mime_type=options.mime_type,
        extension=options.extension,
    )


def decode_mask(data: bytes, *, size: tuple[int, int], max_pixels: int) -> Image.Image:
    """A hand-edited mask for an image of `size` (as displayed), as an "L" image of exactly that size.

    Grey levels are the alpha (L or 1 images), or the alpha channel is (LA, RGBA, a
    palette with transparency). The mask may be a copy scaled down by the same factor
    in both directions (an editor's working copy); it is scaled up here.
    """
    if not data:
        raise ImageRejected("the mask is empty; send a PNG")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > max_pixels:
                raise ImageRejected(_too_many_pixels_message(opened.width, opened.height, max_pixels))
            opened.load()
            mask = opened.copy()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        raise ImageRejected("the mask is not an image we can read; send a PNG") from None
    if mask.mode in ("LA", "La", "RGBA", "RGBa", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        mask = mask.convert("RGBA").getchannel("A")
    elif mask.mode in ("L", "1"):
        mask = mask.convert("L")
    else:
        raise ImageRejected(
            f"the mask is {mask.mode}; send it as grayscale (L, white = kept) or with an alpha channel (LA or RGBA)"
        )
    width, height = size
    fits = mask.width <= width and abs(mask.width * height / width - mask.height) <= 1
    if not fits:
        raise ImageRejected(
            f"the mask is {mask.width}x{mask.height}; send it at {width}x{height} "
            "(the original's size) or scaled down by the same factor"
        )
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return mask


def recompose(
    data: bytes,
    mask: Image.Image,
    *,
    max_pixels: int,
    compress_level: int,
    options: Options = DEFAULT_OPTIONS,
    background: Image.Image | None = None,
) -> Cutout:
    """The cutout of a still image with `mask` (from decode_mask) instead of the model's, in the options' form."""
    image = fit_size(decode_image(data, max_pixels=max_pixels), options)
    if mask.size != image.size:  # size=preview or size=WxH scaled the photo down before the model
        mask = mask.resize(image.size, Image.Resampling.BILINEAR)
    cutout = compose_cutout(image, np.asarray(mask, dtype=np.uint8))
    return _laid_out(cutout, options, background, compress_level=compress_level)
