"""The ceiling: bgsite's own pipeline (rembg's u2netp session, same decode, compose and PNG)
run in one process with no server around it, in a given thread layout.

Run by bench/run.py in a fresh process per layout:
    python -m bench.ceiling --threads 2 --ort-threads 1 IMAGE...
Prints one JSON object: images/s, per-image times, and a digest of the first cutout
(to check the ceiling produces the very bytes bgsite serves).
"""

import argparse
import hashlib
import json
import os
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import MODEL_DIR, peak_rss_mb

MAX_PIXELS = 50_000_000
PNG_LEVEL = int(os.environ.get("PNG_COMPRESS_LEVEL", "1"))


def make_session(ort_threads: int, *, spin: bool = True, shared_pool: bool = False) -> Any:
    from removal import pipeline

    if ort_threads == 1 and not shared_pool:
        return pipeline.create_session("u2netp", MODEL_DIR)  # exactly bgsite's session
    import onnxruntime as ort
    from rembg import new_session

    options = ort.SessionOptions()
    if shared_pool:
        options.use_per_session_threads = False
    else:
        options.intra_op_num_threads = ort_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_mem_pattern = False
    if not spin:  # idle pool threads sleep instead of spinning (they would steal the other worker's core)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return new_session("u2netp", sess_opts=options, providers=["CPUExecutionProvider"])


def run(
    paths: list[Path], *, threads: int, ort_threads: int, spin: bool = True, shared_pool: bool = False
) -> dict[str, Any]:
    if shared_pool:
        # One intra-op pool of `ort_threads` for all sessions: a job running alone gets every
        # core, two jobs share them. Must be set before ONNX Runtime's environment exists.
        from onnxruntime.capi import _pybind_state

        _pybind_state.set_global_thread_pool_sizes(ort_threads, 1)
    from removal import pipeline

    images = [path.read_bytes() for path in paths]
    sessions = [make_session(ort_threads, spin=spin, shared_pool=shared_pool) for _ in range(threads)]
    for session in sessions:  # warm each session (first runs allocate)
        pipeline.cut_out(images[0], session=session, max_pixels=MAX_PIXELS, compress_level=PNG_LEVEL)
    solo_ms = []  # one job at a time: the latency floor of a lone /bgremove call in this layout
    for data in images[: min(8, len(images))]:
        started = time.perf_counter()
        pipeline.cut_out(data, session=sessions[0], max_pixels=MAX_PIXELS, compress_level=PNG_LEVEL)
        solo_ms.append((time.perf_counter() - started) * 1000)
    work: queue.Queue[int] = queue.Queue()
    for index in range(len(images)):
        work.put(index)
    times_ms: list[float] = []
    digests: dict[int, str] = {}
    lock = threading.Lock()

    def worker(session: Any) -> None:
        while True:
            try:
                index = work.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            cutout = pipeline.cut_out(images[index], session=session, max_pixels=MAX_PIXELS, compress_level=PNG_LEVEL)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                times_ms.append(elapsed)
                if index == 0:
                    digests[0] = hashlib.sha256(cutout.data).hexdigest()

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(session,)) for session in sessions]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "layout": f"{threads}x{ort_threads}"
        + ("-shared" if shared_pool else "")
        + ("" if spin or ort_threads == 1 else "-nospin"),
        "threads": threads,
        "ort_threads": ort_threads,
        "images": len(images),
        "seconds": round(seconds, 3),
        "ips": round(len(images) / seconds, 3),
        "per_image_ms_p50": round(statistics.median(times_ms), 1),
        "solo_ms_p50": round(statistics.median(solo_ms), 1),
        "first_cutout_sha256": digests.get(0, ""),
        "peak_rss_mb": round(peak_rss_mb(os.getpid()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ort-threads", type=int, default=1)
    parser.add_argument("--no-spin", action="store_true", help="ORT pool threads sleep when idle")
    parser.add_argument("--shared-pool", action="store_true", help="all sessions share one pool of --ort-threads")
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args()
    layout = {"threads": args.threads, "ort_threads": args.ort_threads, "spin": not args.no_spin}
    print(json.dumps(run(args.images, shared_pool=args.shared_pool, **layout)))


if __name__ == "__main__":
    main()
