"""bgsite's own pipeline in one process, with no server around it; bench/run.py runs each in a fresh process
and reads the JSON line it prints.

    python -m bench.inprocess ceiling THREADS ORT_THREADS MODEL [--shared] IMAGE...   # one layout's images/s
    python -m bench.inprocess stages IMAGE REPEATS                         # median ms per stage of one cutout
    python -m bench.inprocess memory IMAGE                                 # one cutout's time and peak RSS

The ceiling (model sessions, decode, clean-up, compose, PNG, and for the bulk figure each cutout's
thumbnail, as a batch's worker makes it) makes the very bytes bgsite serves: it also prints the first
cutout's digest. The stages say where the time goes inside one cutout.
"""

import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MODEL_DIR, SERVED_MODEL, run_requests
from removal.cutout import pipeline, png, providers, refine, stills, thumbnails
from tests.conftest import rss_bytes

MAX_PIXELS = 50_000_000


def cut_out(session: Any, data: bytes, *, thumbnail: bool = False) -> bytes:
    """The cutout's bytes; with `thumbnail`, made with its thumbnail, as a page batch's worker makes it."""
    return pipeline.cut_out(
        data, session=session, max_pixels=MAX_PIXELS, compress_level=png.DEFAULT_LEVEL, thumbnail=thumbnail
    ).data


def ceiling(paths: list[Path], *, threads: int, ort_threads: int, model: str, shared: bool = False) -> dict[str, Any]:
    """A session per thread, or (`shared`, the server's layout on a GPU) one session for all, with the server's
    default batches (providers.DEFAULT_LAYOUT)."""
    images = [path.read_bytes() for path in paths]
    session = partial(pipeline.create_session, model, MODEL_DIR, threads=ort_threads)
    if shared:
        default = providers.DEFAULT_LAYOUT
        sessions = [session(max_batch=default.max_batch, batch_wait_seconds=default.batch_wait_ms / 1000)] * threads
    else:
        sessions = [session() for _ in range(threads)]
    for session in sessions:
        cut_out(session, images[0])  # the first run of a session allocates
    # One image at a time: a lone /bgremove call's floor in this layout; then every image, a thread per session,
    # each with its thumbnail as a batch's worker makes it.
    solo = run_requests(cut_out, images[:8], concurrency=1, open_client=lambda: nullcontext(sessions[0]))
    free = iter(sessions)
    batch_cut_out = partial(cut_out, thumbnail=True)
    busy = run_requests(batch_cut_out, images, concurrency=threads, open_client=lambda: nullcontext(next(free)))
    return {
        "layout": f"{threads}x{ort_threads}" + ("-shared" * shared) + ("" if model == SERVED_MODEL else f"-{model}"),
        "model": model,
        "ips": round(len(images) / busy.seconds, 3),
        "per_image_ms_p50": round(statistics.median(busy.latencies_ms), 1),
        "solo_ms_p50": round(statistics.median(solo.latencies_ms), 1),
        "first_cutout_sha256": hashlib.sha256(cut_out(sessions[0], images[0])).hexdigest(),
        "peak_rss_mb": round(rss_bytes(os.getpid(), "VmHWM") / 2**20, 1),
    }


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median milliseconds over `repeats` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def stages(path: Path, repeats: int) -> dict[str, float]:
    data = path.read_bytes()
    session = pipeline.create_session(SERVED_MODEL, MODEL_DIR)
    fp32 = pipeline.create_session("u2netp", MODEL_DIR)
    cut_out(session, data)  # the first run allocates
    ms: dict[str, float] = {}
    ms["decode"], image = timed(lambda: pipeline.decode_image(data, max_pixels=MAX_PIXELS), repeats)
    ms["model_input"], feed = timed(lambda: session.model_input(image), repeats)
    ms["onnx_run"], output = timed(lambda: session.run(feed), repeats)
    ms["onnx_run_fp32"], _ = timed(lambda: fp32.run(feed), repeats)
    ms["mask_upscale"], mask = timed(lambda: session.mask_from_output(output, image.size), repeats)
    ms["mask_cleanup"], alpha = timed(lambda: refine.refine_alpha(np.asarray(mask)), repeats)
    ms["canvas"], _ = timed(lambda: stills.canvas_of(image), repeats)
    canvases = [stills.canvas_of(image) for _ in range(repeats)]  # each serves one compose
    ms["compose"], cutout = timed(lambda: stills.compose_cutout(image, alpha, canvases.pop()), repeats)
    ms["png"], _ = timed(lambda: png.encode(cutout), repeats)
    ms["mask_png"], _ = timed(lambda: png.encode(cutout.getchannel("A")), repeats)
    ms["thumbnail"], _ = timed(lambda: thumbnails.thumbnail(cutout), repeats)
    ms["cut_out_total"], _ = timed(lambda: cut_out(session, data), repeats)
    return {name: round(value, 1) for name, value in ms.items()}


def memory(path: Path) -> dict[str, float]:
    """A fresh process's peak RSS over one cutout of `path` (a 50 MP photo: what the server must hold)."""
    session = pipeline.create_session(SERVED_MODEL, MODEL_DIR)
    started = time.perf_counter()
    cut_out(session, path.read_bytes())
    return {"ms": round((time.perf_counter() - started) * 1000), "peak_rss_mb": rss_bytes(os.getpid(), "VmHWM") >> 20}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    providers.configure(os.environ.get("ORT_PROVIDERS", "auto").split(","))  # as the server reads ORT_PROVIDERS
    if command == "ceiling":
        threads, ort_threads, model, *images = args
        shared = images[:1] == ["--shared"]
        paths = [Path(p) for p in images[shared:]]
        figures = ceiling(paths, threads=int(threads), ort_threads=int(ort_threads), model=model, shared=shared)
    else:
        figures = memory(Path(args[0])) if command == "memory" else stages(Path(args[0]), int(args[1]))
    print(json.dumps(figures))
