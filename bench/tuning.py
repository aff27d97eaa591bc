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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import MODEL_DIR, SERVED_MODEL, peak_rss_mb, rss_mb

MAX_PIXELS = 50_000_000


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median milliseconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


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
    from removal import pipeline, refine

    data = path.read_bytes()
    session = pipeline.create_session(SERVED_MODEL, MODEL_DIR)
    fp32 = pipeline.create_session("u2netp", MODEL_DIR)
    pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)  # warm
    result: dict[str, Any] = {"image": path.name, "model": SERVED_MODEL}
    ms = result["ms"] = {}
    ms["decode"], image = timed(lambda: pipeline.decode_image(data, max_pixels=MAX_PIXELS), repeats)
    result["size"] = f"{image.width}x{image.height}"
    ms["model_input"], feed = timed(lambda: session.model_input(image), repeats)
    ms["onnx_run"], _ = timed(lambda: session.inner_session.run(None, {session.input_name: feed}), repeats)
    ms["onnx_run_fp32"], _ = timed(lambda: fp32.inner_session.run(None, {fp32.input_name: feed}), repeats)
    predict_ms, (mask,) = timed(lambda: session.predict(image), repeats)
    ms["mask_upscale"] = max(0.0, predict_ms - ms["model_input"] - ms["onnx_run"])
    ms["mask_cleanup"], alpha = timed(lambda: refine.refine_alpha(np.asarray(mask)), repeats)
    ms["decontaminate"], _ = timed(lambda: refine.decontaminate(image, alpha), repeats)
    remove_ms, cutout = timed(lambda: pipeline.remove_background(image, session=session), repeats)
    ms["compose"] = max(0.0, remove_ms - predict_ms - ms["mask_cleanup"] - ms["decontaminate"])
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
    reduced_ms, reduced_feed = timed(lambda: session.model_input(image.reduce(factor)) if factor > 1 else feed, repeats)
    reduced_mask = _mask_from_feed(session, reduced_feed, image.size)
    alternatives["model_input"] = {
        "full image (rembg)": round(ms["model_input"], 1),
        f"reduce({factor}) first": round(reduced_ms, 1),
        **mask_difference(mask, reduced_mask),
    }
    # Where bgsite started: rembg's own remove() with rembg's u2netp session (decode, predict, compose, PNG 6).
    from rembg import new_session, remove

    rembg_session = new_session("u2netp", sess_opts=_single_thread(), providers=["CPUExecutionProvider"])
    rembg_ms, _ = timed(lambda: remove(data, session=rembg_session), repeats)
    alternatives["rembg_remove_ms"] = round(rembg_ms, 1)
    result["ms"] = {name: round(value, 1) for name, value in ms.items()}
    result["served_bytes"] = len(served.data)
    return result


def _single_thread() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    return options


def _mask_from_feed(session: Any, feed: np.ndarray, size: tuple[int, int]) -> Image.Image:
    prediction = session.inner_session.run(None, {session.input_name: feed})[0][:, 0, :, :]
    low, high = np.min(prediction), np.max(prediction)
    prediction = np.squeeze((prediction - low) / (high - low))
    return Image.fromarray((prediction * 255).astype("uint8")).resize(size, Image.Resampling.LANCZOS)


# Two sessions (bgsite's two workers), each in a fresh process: where bgsite started (rembg's sessions, each
# with its own arena), bgsite's sessions on the fp32 weights (no rembg import, one shared arena), and bgsite.
MEMORY_VARIANTS = ("rembg_sessions", "bgsite_fp32", "bgsite")


def memory(variant: str, path: Path, sessions: int = 2) -> dict[str, Any]:
    """RSS of a process with `sessions` sessions of a variant, each having run twice, side by side."""
    pid = os.getpid()
    import onnxruntime  # noqa: F401

    from removal import pipeline  # imports NumPy and Pillow only

    started = time.perf_counter()
    if variant == "rembg_sessions":
        from rembg import new_session

        made = [
            new_session("u2netp", sess_opts=_single_thread(), providers=["CPUExecutionProvider"])
            for _ in range(sessions)
        ]
    else:
        model = SERVED_MODEL if variant == "bgsite" else "u2netp"
        made = [pipeline.create_session(model, MODEL_DIR) for _ in range(sessions)]
    ready_s = time.perf_counter() - started
    after_sessions = rss_mb(pid)
    data = path.read_bytes()
    times: list[float] = []

    def work(session: Any) -> None:
        for _ in range(2):
            begun = time.perf_counter()
            pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)
            times.append((time.perf_counter() - begun) * 1000)

    workers = [threading.Thread(target=work, args=(session,)) for session in made]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
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
