"""Where the time and memory go inside one cutout, and what the alternatives would gain.

Runs in bgsite's venv, in-process on bgsite's own pipeline functions:
    python -m bench.tuning profile IMAGE REPEATS    (stage times and alternatives; JSON)
    python -m bench.tuning memory VARIANT IMAGE     (RSS of one session variant; JSON)
Nothing here changes bgsite; each alternative is checked against the output bgsite makes now.
"""

import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import MODEL_DIR, peak_rss_mb, rss_mb

MAX_PIXELS = 50_000_000
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median milliseconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def session_options(*, threads: int = 1, mem_pattern: bool = False, arena: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_mem_pattern = mem_pattern
    options.enable_cpu_mem_arena = arena
    return options


class DirectU2netp:
    """u2netp on onnxruntime alone, with rembg's exact pre- and post-processing (no rembg import)."""

    def __init__(self, options: Any) -> None:
        import onnxruntime as ort

        self.inner_session = ort.InferenceSession(
            str(MODEL_DIR / "u2netp.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.inner_session.get_inputs()[0].name

    def predict(self, img: Image.Image) -> list[Image.Image]:
        pixels = np.array(img.convert("RGB").resize((320, 320), Image.Resampling.LANCZOS))
        pixels = pixels / max(np.max(pixels), 1e-6)
        planes = np.zeros((320, 320, 3))
        for channel in range(3):
            planes[:, :, channel] = (pixels[:, :, channel] - MEAN[channel]) / STD[channel]
        feed = np.expand_dims(planes.transpose((2, 0, 1)), 0).astype(np.float32)
        prediction = self.inner_session.run(None, {self.input_name: feed})[0][:, 0, :, :]
        low, high = np.min(prediction), np.max(prediction)
        prediction = np.squeeze((prediction - low) / (high - low))
        mask = Image.fromarray((prediction * 255).astype("uint8"))
        return [mask.resize(img.size, Image.Resampling.LANCZOS)]


def compose_with_pillow(image: Image.Image, mask: Image.Image) -> Image.Image:
    """The same RGBA as pipeline.remove_background, with Pillow's C loops instead of NumPy indexing."""
    cutout = image.convert("RGB") if image.mode != "RGB" else image.copy()
    cutout.putalpha(mask)
    visible = mask.point(lambda value: 255 if value else 0)
    return Image.composite(cutout, Image.new("RGBA", cutout.size, (0, 0, 0, 0)), visible)


def webp_lossless(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", lossless=True, quality=0, method=0, exact=False)
    return buffer.getvalue()


def mask_difference(first: Image.Image, second: Image.Image) -> dict[str, float]:
    a = np.asarray(first, dtype=np.int16)
    b = np.asarray(second, dtype=np.int16)
    union = ((a > 127) | (b > 127)).sum()
    return {
        "alpha_mae": round(float(np.abs(a - b).mean()), 3),
        "iou": round(float(((a > 127) & (b > 127)).sum() / union) if union else 1.0, 4),
    }


def profile(path: Path, repeats: int) -> dict[str, Any]:
    from removal import pipeline

    data = path.read_bytes()
    session = pipeline.create_session("u2netp", MODEL_DIR)
    pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)  # warm
    result: dict[str, Any] = {"image": path.name}
    ms = result["ms"] = {}
    ms["decode"], image = timed(lambda: pipeline.decode_image(data, max_pixels=MAX_PIXELS), repeats)
    result["size"] = f"{image.width}x{image.height}"
    ms["model_input"], feed = timed(lambda: session.normalize(image, MEAN, STD, (320, 320)), repeats)
    ms["onnx_run"], _ = timed(lambda: session.inner_session.run(None, feed), repeats)
    predict_ms, (mask,) = timed(lambda: session.predict(image), repeats)
    ms["mask_upscale"] = max(0.0, predict_ms - ms["model_input"] - ms["onnx_run"])
    remove_ms, cutout = timed(lambda: pipeline.remove_background(image, session=session), repeats)
    ms["compose"] = max(0.0, remove_ms - predict_ms)
    ms["png_level1"], png1 = timed(lambda: pipeline.encode_png(cutout, compress_level=1), repeats)
    ms["cut_out_total"], served = timed(
        lambda: pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1), repeats
    )
    alternatives = result["alternatives"] = {}
    # Encoders (the cutout is the same; only bytes and time change).
    level6_ms, png6 = timed(lambda: pipeline.encode_png(cutout, compress_level=6), repeats)
    level0_ms, png0 = timed(lambda: pipeline.encode_png(cutout, compress_level=0), repeats)
    webp_ms, webp = timed(lambda: webp_lossless(cutout), repeats)
    alternatives["encode"] = {
        "png_level0": {"ms": round(level0_ms, 1), "mb": round(len(png0) / 1e6, 2)},
        "png_level1 (bgsite)": {"ms": round(ms["png_level1"], 1), "mb": round(len(png1) / 1e6, 2)},
        "png_level6 (rembg)": {"ms": round(level6_ms, 1), "mb": round(len(png6) / 1e6, 2)},
        "webp_lossless_m0": {"ms": round(webp_ms, 1), "mb": round(len(webp) / 1e6, 2)},
    }
    # Compose in Pillow: must give the very same pixels.
    pillow_ms, pillow_cutout = timed(lambda: compose_with_pillow(image, mask), repeats)
    numpy_ms, numpy_cutout = timed(lambda: pipeline.remove_background(image, session=_FixedMask(mask)), repeats)
    alternatives["compose"] = {
        "numpy (bgsite)": round(numpy_ms, 1),
        "pillow putalpha+composite": round(pillow_ms, 1),
        "identical_pixels": bool(np.array_equal(np.asarray(pillow_cutout), np.asarray(numpy_cutout))),
    }
    # Mask upscale filter.
    small_mask = mask.resize((320, 320), Image.Resampling.LANCZOS)
    lanczos_ms, lanczos = timed(lambda: small_mask.resize(image.size, Image.Resampling.LANCZOS), repeats)
    bilinear_ms, bilinear = timed(lambda: small_mask.resize(image.size, Image.Resampling.BILINEAR), repeats)
    alternatives["mask_upscale"] = {
        "lanczos (rembg)": round(lanczos_ms, 1),
        "bilinear": round(bilinear_ms, 1),
        **mask_difference(lanczos, bilinear),
    }
    # Model input from a reduced image (Pillow's reduce(), as JPEG draft mode would give) for large photos.
    factor = max(1, min(image.width, image.height) // 640)
    reduced_ms, reduced_feed = timed(
        lambda: session.normalize(image.reduce(factor), MEAN, STD, (320, 320)) if factor > 1 else feed, repeats
    )
    reduced_mask = _mask_from_feed(session, reduced_feed, image.size)
    alternatives["model_input"] = {
        "full image (rembg)": round(ms["model_input"], 1),
        f"reduce({factor}) first": round(reduced_ms, 1),
        **mask_difference(mask, reduced_mask),
    }
    # rembg's own remove() on the same session (decode + predict + composite + PNG level 6).
    from rembg import remove

    rembg_ms, _ = timed(lambda: remove(data, session=session), repeats)
    alternatives["rembg_remove_ms"] = round(rembg_ms, 1)
    # The same model without importing rembg: identical mask?
    direct = DirectU2netp(session_options())
    direct_ms, (direct_mask,) = timed(lambda: direct.predict(image), repeats)
    alternatives["direct_onnxruntime"] = {
        "predict_ms": round(direct_ms, 1),
        "rembg_predict_ms": round(predict_ms, 1),
        "identical_mask": bool(np.array_equal(np.asarray(direct_mask), np.asarray(mask))),
    }
    result["ms"] = {name: round(value, 1) for name, value in ms.items()}
    result["served_bytes"] = len(served.data)
    return result


class _FixedMask:
    """A stand-in session that returns a known mask, to time composing alone."""

    def __init__(self, mask: Image.Image) -> None:
        self.mask = mask

    def predict(self, image: Image.Image) -> list[Image.Image]:
        return [self.mask]


def _mask_from_feed(session: Any, feed: dict[str, Any], size: tuple[int, int]) -> Image.Image:
    prediction = session.inner_session.run(None, feed)[0][:, 0, :, :]
    low, high = np.min(prediction), np.max(prediction)
    prediction = np.squeeze((prediction - low) / (high - low))
    return Image.fromarray((prediction * 255).astype("uint8")).resize(size, Image.Resampling.LANCZOS)


MEMORY_VARIANTS = {
    "bgsite": {"rembg": True, "mem_pattern": False, "arena": True},
    "mem_pattern_on": {"rembg": True, "mem_pattern": True, "arena": True},
    "arena_off": {"rembg": True, "mem_pattern": False, "arena": False},
    "no_rembg_import": {"rembg": False, "mem_pattern": False, "arena": True},
    "no_rembg_import_arena_off": {"rembg": False, "mem_pattern": False, "arena": False},
}


def memory(variant: str, path: Path, sessions: int = 2) -> dict[str, Any]:
    """RSS of a process with `sessions` sessions of a variant, each having run twice (in turn)."""
    settings = MEMORY_VARIANTS[variant]
    pid = os.getpid()
    import onnxruntime  # noqa: F401

    from removal import pipeline  # imports NumPy and Pillow only

    started = time.perf_counter()
    if settings["rembg"]:
        from rembg import new_session

        made = [
            new_session(
                "u2netp",
                sess_opts=session_options(mem_pattern=settings["mem_pattern"], arena=settings["arena"]),
                providers=["CPUExecutionProvider"],
            )
            for _ in range(sessions)
        ]
    else:
        made = [DirectU2netp(session_options(mem_pattern=settings["mem_pattern"], arena=settings["arena"]))]
        made += [
            DirectU2netp(session_options(mem_pattern=settings["mem_pattern"], arena=settings["arena"]))
            for _ in range(sessions - 1)
        ]
    ready_s = time.perf_counter() - started
    after_sessions = rss_mb(pid)
    data = path.read_bytes()
    times = []
    for _ in range(2):
        for session in made:
            begun = time.perf_counter()
            pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)
            times.append((time.perf_counter() - begun) * 1000)
    return {
        "variant": variant,
        "sessions": sessions,
        "import_and_sessions_s": round(ready_s, 2),
        "rss_after_sessions_mb": round(after_sessions, 1),
        "rss_after_runs_mb": round(rss_mb(pid), 1),
        "peak_rss_mb": round(peak_rss_mb(pid), 1),
        "cut_out_ms_p50": round(statistics.median(times), 1),
    }


def main() -> None:
    command = sys.argv[1]
    if command == "profile":
        print(json.dumps(profile(Path(sys.argv[2]), int(sys.argv[3]))))
    elif command == "memory":
        print(json.dumps(memory(sys.argv[2], Path(sys.argv[3]))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
