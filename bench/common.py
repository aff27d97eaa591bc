"""What every bench module shares: where things are, a log line, the machine, and a request loop.

Servers, ports and memory readings come from the test suite (tests/conftest.py).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("U2NET_HOME") or REPO / ".cache" / "u2net").resolve()
RESULTS = REPO / "bench" / "results"  # what a run measured, and pictures of photos that are not in git
# What bgsite serves by default (REMBG_MODEL in bgsite/settings.py): u2netp's int8 copy made at setup.
SERVED_MODEL = os.environ.get("REMBG_MODEL", "u2netp-int8")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# The instruction sets onnxruntime's int8 kernels use, best last: VNNI (AVX-512 or AVX) does an 8-bit
# multiply-add in one instruction where AVX2 alone takes three; AMX has matrix tiles for it.
INT8_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def machine() -> dict[str, Any]:
    info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines())
    info = {key.strip(): value.strip() for key, value in info.items()}
    flags = set(info.get("flags", "").split())
    return {
        "cpu": info.get("model name") or platform.processor() or "unknown",
        "int8_flags": [flag for flag in INT8_FLAGS if flag in flags],
        "cores": os.cpu_count() or 0,
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),  # MemTotal
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": round(os.getloadavg()[0], 2),
    }


def phase(results: dict[str, Any], name: str, function: Callable[[], Any]) -> Any:
    """`function()` as one phase of a run: what it returns, or None with its error kept in results["errors"],
    so that the other phases still report."""
    log(f"-- {name}")
    try:
        return function()
    except Exception as exc:
        results["errors"][name] = f"{exc.__class__.__name__}: {exc}"
        traceback.print_exc()
        return None


def json_of(*command: str, **env: str) -> Any:
    """The last line a bench module prints, run in a fresh process of bgsite's venv (with `env` added)."""
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, env=os.environ | env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def get(results: Any, path: str) -> Any:
    """results["a"]["b"] for "a.b", or None where a part is missing (a phase that failed)."""
    for key in path.split("."):
        results = results.get(key) if isinstance(results, dict) else None
    return results


@dataclass
class LatencyRun:
    concurrency: int
    latencies_ms: list[float]
    seconds: float
    output_bytes: int


def summary(runs: list[LatencyRun]) -> dict[str, float]:
    """Runs of the same mix, one after another, as one."""
    latencies = [latency for run in runs for latency in run.latencies_ms]
    return {
        "concurrency": runs[0].concurrency,
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        # Nearest rank ("inverted_cdf"): p99 of 30 samples is the largest one.
        "p99_ms": round(float(np.percentile(latencies, 99, method="inverted_cdf")), 1),
        "ips": round(len(latencies) / sum(run.seconds for run in runs), 3),
        "kb_per_image": round(sum(run.output_bytes for run in runs) / len(latencies) / 1000, 1),
    }


def run_requests(
    send: Callable[[Any, bytes], bytes],
    images: list[bytes],
    *,
    concurrency: int,
    open_client: Callable[[], AbstractContextManager[Any]] | None = None,
) -> LatencyRun:
    """Every image once, by `concurrency` clients that each send their next one when the previous answer
    is in; `send(client, image)` returns the cutout. A client is an HTTP session unless `open_client` says."""
    import requests

    open_client = open_client or requests.Session
    lock, queue = threading.Lock(), iter(images)
    done: list[tuple[float, int]] = []  # (ms, output bytes) per image

    def client() -> None:
        with open_client() as http:
            while True:
                with lock:
                    image = next(queue, None)
                if image is None:
                    return
                started = time.perf_counter()
                body = send(http, image)
                done.append(((time.perf_counter() - started) * 1000, len(body)))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    seconds = time.perf_counter() - started
    return LatencyRun(concurrency, [ms for ms, _ in done], seconds, sum(size for _, size in done))


def throughput(images: int, seconds: float, **extra_seconds: float) -> dict[str, Any]:
    """A run's figures as the results keep them: images, seconds, images/s, and any other times in seconds."""
    rounded = {name: round(value, 2) for name, value in extra_seconds.items()}
    return {"images": images, "seconds": round(seconds, 2), "ips": round(images / seconds, 3), **rounded}


def unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same JPEG with a comment naming `tag`: the same pixels in different bytes, so bgsite's
    per-account result reuse cannot answer from its cache."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    comment = f"bench {tag}".encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(row) + " |" for row in lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    cells = [[cell.replace("`", "").replace("**", "") for cell in row] for row in [header, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells)
