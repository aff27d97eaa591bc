"""The ceiling: bgsite's own pipeline (its model sessions, decode, clean-up, compose, PNG) in one process
with no server around it, in one thread layout. bench/run.py runs it in a fresh process per layout:

    python -m bench.ceiling THREADS ORT_THREADS MODEL IMAGE...

and reads the JSON line it prints: images/s, per-image times, and the first cutout's digest (the
ceiling makes the very bytes bgsite serves).
"""

import hashlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import MODEL_DIR, SERVED_MODEL
from removal.cutout import pipeline
from tests.conftest import rss_bytes


def cut_out(data: bytes, session: Any) -> bytes:
    return pipeline.cut_out(data, session=session, max_pixels=50_000_000, compress_level=1).data


def run(paths: list[Path], *, threads: int, ort_threads: int, model: str) -> dict[str, Any]:
    images = [path.read_bytes() for path in paths]
    sessions = [pipeline.create_session(model, MODEL_DIR, threads=ort_threads) for _ in range(threads)]
    for session in sessions:
        cut_out(images[0], session)  # the first run of a session allocates
    solo_ms = []  # one image at a time: a lone /bgremove call's floor in this layout
    for data in images[:8]:
        started = time.perf_counter()
        cut_out(data, sessions[0])
        solo_ms.append((time.perf_counter() - started) * 1000)
    pending = iter(range(len(images)))
    lock = threading.Lock()
    times_ms: list[float] = []

    def worker(session: Any) -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            begun = time.perf_counter()
            cut_out(images[index], session)
            with lock:
                times_ms.append((time.perf_counter() - begun) * 1000)

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
        "ips": round(len(images) / seconds, 3),
        "per_image_ms_p50": round(statistics.median(times_ms), 1),
        "solo_ms_p50": round(statistics.median(solo_ms), 1),
        "first_cutout_sha256": hashlib.sha256(cut_out(images[0], sessions[0])).hexdigest(),
        "peak_rss_mb": round(rss_bytes(os.getpid(), "VmHWM") / 2**20, 1),
    }


if __name__ == "__main__":
    threads, ort_threads, model, *images = sys.argv[1:]
    print(json.dumps(run([Path(p) for p in images], threads=int(threads), ort_threads=int(ort_threads), model=model)))
