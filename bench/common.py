"""Small shared pieces: process memory from /proc, percentiles, HTTP load loops, unique image bytes."""

import os
import platform
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("U2NET_HOME") or REPO / ".cache" / "u2net").resolve()
MODEL_MD5 = "8e83ca70e441ab06c318d82300c84806"
# What bgsite serves by default (REMBG_MODEL in bgsite/settings.py): u2netp's int8 copy made at setup.
SERVED_MODEL = os.environ.get("REMBG_MODEL", "u2netp-int8")
# Any attempt to download (rembg's pooch, gradio's telemetry) fails at once instead of going out.
OFFLINE_ENV = {
    "U2NET_HOME": str(MODEL_DIR),
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "BROWSER": "true",  # `rembg s` opens a browser at start-up; make that a no-op
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- memory ---------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory now of `pid` and its children."""
    return sum(_status_kb(each, "VmRSS") for each in process_tree(pid)) / 1024


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of `pid` and its children, since start or the last reset."""
    return sum(_status_kb(each, "VmHWM") for each in process_tree(pid)) / 1024


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False where not allowed."""
    try:
        for each in process_tree(pid):
            Path(f"/proc/{each}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples a process tree's RSS every few milliseconds (in case VmHWM cannot be reset)."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid, self.interval = pid, interval
        self.peak = rss_mb(pid)
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._running = False
        self._thread.join()


# --- numbers ----------------------------------------------------------------------


def percentile(values: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 30 samples is the largest one)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


@dataclass
class LatencyRun:
    concurrency: int
    latencies_ms: list[float]
    seconds: float
    output_bytes: int

    @property
    def p50_ms(self) -> float:
        return median(self.latencies_ms)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    @property
    def ips(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def summary(self) -> dict[str, float]:
        return {
            "concurrency": self.concurrency,
            "requests": len(self.latencies_ms),
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1),
            "ips": round(self.ips, 3),
            "seconds": round(self.seconds, 2),
        }


def first_result_seconds(
    name: str,
    process: subprocess.Popen[bytes],
    started_at: float,
    call: Callable[[requests.Session], bytes],
    log: Callable[[], str],
    timeout: float,
) -> float:
    """Seconds from `started_at` (the process's start) to the first answer of `call`, polling until it listens."""
    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log()}")
            try:
                call(http)
                return time.monotonic() - started_at
            except requests.ConnectionError:
                time.sleep(0.05)
    raise TimeoutError(f"{name} gave no result in {timeout} s:\n{log()}")


def run_requests(
    send: Callable[[int, bytes], bytes], images: list[bytes], *, concurrency: int, client_state: bool = True
) -> LatencyRun:
    """Send every image once with `concurrency` clients each sending its next one as soon as
    the previous answer is in; `send(client, image)` returns the cutout bytes."""
    latencies: list[float] = []
    total_bytes = 0
    lock = threading.Lock()
    queue = iter(enumerate(images))

    def client(index: int) -> None:
        nonlocal total_bytes
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            started = time.perf_counter()
            body = send(index, item[1])
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                total_bytes += len(body)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client, index) for index in range(concurrency)]:
            future.result()
    return LatencyRun(concurrency, latencies, time.perf_counter() - started, total_bytes)


def unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same JPEG with a comment segment naming `tag`: identical pixels, different bytes.

    bgsite reuses the result of an identical earlier upload (per account), so a
    latency run that sent the same bytes again would measure its cache.
    """
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    comment = f"bench {tag}".encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def wait_until(probe: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the machine -----------------------------------------------------------------------


def machine() -> dict[str, str | int | float]:
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    ram_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            ram_kb = int(line.split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_at_start": round(os.getloadavg()[0], 2),
    }
