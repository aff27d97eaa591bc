"""bgsite's own pipeline in one process, with no server around it; bench/run.py runs each in a fresh process
and reads the JSON line it prints.

    python -m bench.inprocess ceiling THREADS ORT_THREADS MODEL [--shared] IMAGE...   # one layout's images/s
    python -m bench.inprocess stages IMAGE ROUNDS                          # median ms per stage of one cutout
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


def one_round(session: Any, fp32: Any, data: bytes) -> dict[str, float]:
    """Milliseconds of each stage of one cutout of `data`, one after the other, then of the whole cutout."""
    ms: dict[str, float] = {}

    def lap(name: str, function: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = function()
        ms[name] = (time.perf_counter() - started) * 1000
        return result

    image = lap("decode", lambda: pipeline.decode_image(data, max_pixels=MAX_PIXELS))
    feed = lap("model_input", lambda: session.model_input(image))
    output = lap("onnx_run", lambda: session.run(feed))
    lap("onnx_run_fp32", lambda: fp32.run(feed))
    mask = lap("mask_upscale", lambda: session.mask_from_output(output, image.size))
    alpha = lap("mask_cleanup", lambda: refine.refine_alpha(np.asarray(mask)))
    canvas = lap("canvas", lambda: stills.canvas_of(image))
    cutout = lap("compose", lambda: stills.compose_cutout(image, alpha, canvas))
    lap("png", lambda: png.encode(cutout))
    lap("mask_png", lambda: png.encode(cutout.getchannel("A")))
    lap("thumbnail", lambda: thumbnails.thumbnail(cutout))
    lap("cut_out_total", lambda: cut_out(session, data))
    return ms


def stages(path: Path, rounds: int) -> dict[str, float]:
    """Median ms of each stage over `rounds` rounds, each stage and the whole cutout timed in every round: a
    slow spell of the machine (these VMs have them) then falls on the stages and the whole alike, where timing
    each stage's repeats one stage after another once put the model run above the whole cutout."""
    data = path.read_bytes()
    session = pipeline.create_session(SERVED_MODEL, MODEL_DIR)
    fp32 = pipeline.create_session("u2netp", MODEL_DIR)
    one_round(session, fp32, data)  # the first runs allocate
    laps = [one_round(session, fp32, data) for _ in range(rounds)]
    return {name: round(statistics.median(lap[name] for lap in laps), 1) for name in laps[0]}


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
