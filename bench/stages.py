"""Where the time goes inside one cutout: bgsite's own pipeline functions, one stage at a time.

python -m bench.stages IMAGE REPEATS    # prints one JSON line: median ms per stage
"""

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MODEL_DIR, SERVED_MODEL
from removal.cutout import pipeline, refine

MAX_PIXELS = 50_000_000


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median milliseconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def profile(path: Path, repeats: int) -> dict[str, float]:
    data = path.read_bytes()
    session = pipeline.create_session(SERVED_MODEL, MODEL_DIR)
    fp32 = pipeline.create_session("u2netp", MODEL_DIR)
    pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)  # the first run allocates
    ms: dict[str, float] = {}
    ms["decode"], image = timed(lambda: pipeline.decode_image(data, max_pixels=MAX_PIXELS), repeats)
    ms["model_input"], feed = timed(lambda: session.model_input(image), repeats)
    ms["onnx_run"], _ = timed(lambda: session.inner_session.run(None, {session.input_name: feed}), repeats)
    ms["onnx_run_fp32"], _ = timed(lambda: fp32.inner_session.run(None, {fp32.input_name: feed}), repeats)
    predict_ms, (mask,) = timed(lambda: session.predict(image), repeats)
    ms["mask_upscale"] = max(0.0, predict_ms - ms["model_input"] - ms["onnx_run"])
    ms["mask_cleanup"], alpha = timed(lambda: refine.refine_alpha(np.asarray(mask)), repeats)
    ms["decontaminate"], _ = timed(lambda: refine.decontaminate(image, alpha), repeats)
    remove_ms, cutout = timed(lambda: pipeline.remove_background(image, session=session), repeats)
    ms["compose"] = max(0.0, remove_ms - predict_ms - ms["mask_cleanup"] - ms["decontaminate"])
    ms["png_level1"], _ = timed(lambda: pipeline.encode_png(cutout, compress_level=1), repeats)
    ms["cut_out_total"], _ = timed(
        lambda: pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1), repeats
    )
    return {name: round(value, 1) for name, value in ms.items()}


if __name__ == "__main__":
    print(json.dumps(profile(Path(sys.argv[1]), int(sys.argv[2]))))
