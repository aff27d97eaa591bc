"""The ceiling: bgsite's own pipeline (its model session, decode, compose and PNG) run in
one process with no server around it, in a given thread layout.

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

from bench.common import MODEL_DIR, SERVED_MODEL, peak_rss_mb

MAX_PIXELS = 50_000_000
PNG_LEVEL = int(os.environ.get("PNG_COMPRESS_LEVEL", "1"))


def run(paths: list[Path], *, threads: int, ort_threads: int, model: str = SERVED_MODEL) -> dict[str, Any]:
    from removal import pipeline

    images = [path.read_bytes() for path in paths]
    # Exactly bgsite's sessions (pipeline.create_session: shared arena, no spinning when threads > 1).
    sessions = [pipeline.create_session(model, MODEL_DIR, threads=ort_threads) for _ in range(threads)]
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
        "layout": f"{threads}x{ort_threads}" + ("" if model == SERVED_MODEL else f"-{model}"),
        "model": model,
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
    parser.add_argument("--model", default=SERVED_MODEL)
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args()
    print(json.dumps(run(args.images, threads=args.threads, ort_threads=args.ort_threads, model=args.model)))


if __name__ == "__main__":
    main()
