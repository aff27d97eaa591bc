"""The served int8 copy of u2netp (made at setup by scripts/quantize_model.py) against the fp32 weights.

    python -m bench.quantize IMAGE...

Speed: the model run alone, fp32 and int8 interleaved in one loop, on one thread and on
two (the worker and solo layouts). Agreement: the int8 mask against the fp32 mask on
each photo where fp32 finds a subject covering at least 5 % (IoU at alpha 0.5, mean
absolute alpha error out of 255), through bgsite's own sessions. `make quality` has the
ground truth; this is how far the copy strays from its original on the bench photos.
Prints one JSON object.
"""

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import MODEL_DIR, SERVED_MODEL

ROUNDS = 10


def run_ms(sessions: dict[str, Any], feed: np.ndarray) -> dict[str, float]:
    """Median milliseconds per model run, the variants taking turns so load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for session in sessions.values():
        session.inner_session.run(None, {session.input_name: feed})
    for _ in range(ROUNDS):
        for name, session in sessions.items():
            started = time.perf_counter()
            session.inner_session.run(None, {session.input_name: feed})
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values), 1) for name, values in times.items()}


def agreement(fp32: Any, int8: Any, paths: list[Path]) -> dict[str, Any]:
    ious, maes, worst = [], [], ("", 1.0)
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        (reference,), (candidate,) = fp32.predict(image), int8.predict(image)
        a, b = np.asarray(reference, dtype=np.float32), np.asarray(candidate, dtype=np.float32)
        if (a > 127).mean() < 0.05:
            continue  # no real subject (a star field): IoU says nothing there
        iou = float(((a > 127) & (b > 127)).sum() / ((a > 127) | (b > 127)).sum())
        ious.append(iou)
        maes.append(float(np.abs(a - b).mean()))
        if iou < worst[1]:
            worst = (path.name, iou)
    return {
        "photos": len(paths),
        "with_subject": len(ious),
        "mask_iou_vs_fp32": round(statistics.fmean(ious), 4),
        "mask_iou_vs_fp32_min": round(worst[1], 4),
        "worst_photo": worst[0],
        "share_iou_at_least_0_95": round(sum(iou >= 0.95 for iou in ious) / len(ious), 3),
        "alpha_mae_vs_fp32_of_255": round(statistics.fmean(maes), 2),
    }


def main() -> None:
    from removal import pipeline

    paths = [Path(arg) for arg in sys.argv[1:]]
    sessions = {
        threads: {
            "fp32": pipeline.create_session("u2netp", MODEL_DIR, threads=threads),
            "int8": pipeline.create_session(SERVED_MODEL, MODEL_DIR, threads=threads),
        }
        for threads in (1, 2)
    }
    with Image.open(paths[0]) as opened:
        feed = sessions[1]["fp32"].model_input(opened.convert("RGB"))
    speed = {}
    for threads, pair in sessions.items():
        times = run_ms(pair, feed)
        speed[f"threads_{threads}"] = {**times, "speedup": round(times["fp32"] / times["int8"], 2)}
    result = {
        "model": SERVED_MODEL,
        "model_mb": round((MODEL_DIR / f"{SERVED_MODEL}.onnx").stat().st_size / 1e6, 2),
        "fp32_mb": round((MODEL_DIR / "u2netp.onnx").stat().st_size / 1e6, 2),
        "run_ms": speed,
        **agreement(sessions[1]["fp32"], sessions[1]["int8"], paths),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
