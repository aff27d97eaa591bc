"""Where the time goes inside one cutout: bgsite's own pipeline functions, one stage at a time.

python -m bench.stages IMAGE REPEATS    # prints one JSON line: median ms per stage
"""

import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MODEL_DIR, SERVED_MODEL
from removal.cutout import pipeline, png, refine, stills

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
    cut_out = partial(pipeline.cut_out, data, session=session, max_pixels=MAX_PIXELS, compress_level=png.DEFAULT_LEVEL)
    cut_out()  # the first run allocates
    ms: dict[str, float] = {}
    ms["decode"], image = timed(lambda: pipeline.decode_image(data, max_pixels=MAX_PIXELS), repeats)
    ms["model_input"], feed = timed(lambda: session.model_input(image), repeats)
    ms["onnx_run"], output = timed(lambda: session.run(feed), repeats)
    ms["onnx_run_fp32"], _ = timed(lambda: fp32.run(feed), repeats)
    ms["mask_upscale"], mask = timed(lambda: session.mask_from_output(output, image.size), repeats)
    ms["mask_cleanup"], alpha = timed(lambda: refine.refine_alpha(np.asarray(mask)), repeats)
    ms["compose"], cutout = timed(lambda: stills.compose_cutout(image, alpha), repeats)
    ms["png"], _ = timed(lambda: png.encode(cutout), repeats)
    ms["mask_png"], _ = timed(lambda: png.encode(cutout.getchannel("A")), repeats)
    ms["cut_out_total"], _ = timed(cut_out, repeats)
    return {name: round(value, 1) for name, value in ms.items()}


if __name__ == "__main__":
    print(json.dumps(profile(Path(sys.argv[1]), int(sys.argv[2]))))
