"""`make loadtest`'s soak: many /bgremove calls of distinct real photos, then the scaled topology's batch API.

    python -m tests.soak --calls 10000 --clients 32 --scaled 1000 --output bench/results/soak.json

Embedded: `--calls` calls of /bgremove from `--clients` concurrent clients over loopback,
each a distinct photo (one of the 64 real photos of bench/realphotos, a varied crop
resized to 256-400 px), against a fresh embedded server (2 worker threads, the
default MAX_WAITING_CUTOUTS, rate limits off). A 503 is the waiting room's deliberate
refusal: that client waits its Retry-After. Checked: no other 5xx; every 200 is the
cutout of the photo sent (a PNG of its size whose opaque pixels are the photo's own);
p99 of the accepted calls against their p50; the server's resident memory at the end
against its value after the first `--first` calls. Printed for MAX_WAITING_CUTOUTS's default
(docs/benchmarks.md#back-pressure): the accepted calls a second, how long they take to serve a
full waiting room, and how many they serve in WAITING_ROOM_TARGET_SECONDS.

Scaled (`--scaled N`): web (EMBEDDED_WORKERS=0) and two `manage.py runworker` processes
on PostgreSQL, Redis and an S3 server (moto), N distinct photos through the batch API,
one worker SIGKILLed once a third is done: every item must end done exactly once.
Bounded: every phase stops at `--max-seconds`.
"""

import argparse
import io
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests
from PIL import Image

from bench import realphotos
from tests.conftest import LiveServer, rss_bytes
from tests.scaled_soak import run_scaled

# What a full waiting room should cost its last caller: the basis of MAX_WAITING_CUTOUTS's default.
WAITING_ROOM_TARGET_SECONDS = 10


class Photos:
    """Distinct JPEGs made from real photos: photo `index % n`, a crop and a size chosen by `index`."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or realphotos.folder() / "images"  # the set beside the checkout, or QUALITY_PHOTOS
        self.sources = []
        for path in sorted(folder.glob("*.jpg"))[:64]:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
                image.thumbnail((560, 560))
                self.sources.append(image)
        if not self.sources:
            raise SystemExit(f"no photos in {folder}")

    def make(self, index: int) -> tuple[bytes, np.ndarray]:
        """(the JPEG to send, its pixels as the server will decode them)."""
        chooser = random.Random(index)
        source = self.sources[index % len(self.sources)]
        width, height = source.size
        keep = chooser.uniform(0.7, 1.0)
        crop_w, crop_h = int(width * keep), int(height * keep)
        left, top = chooser.randint(0, width - crop_w), chooser.randint(0, height - crop_h)
        image = source.crop((left, top, left + crop_w, top + crop_h))
        image.thumbnail((chooser.randint(256, 400),) * 2)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
            pixels = np.asarray(decoded.convert("RGB"))
        return buffer.getvalue(), pixels


def cutout_problem(png: bytes, pixels: np.ndarray) -> str:
    """'' if `png` is the cutout of `pixels` (an RGBA PNG of its size, its opaque pixels the photo's); else why not."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG" or image.mode != "RGBA":
                return f"a {image.format} {image.mode} image"
            rgba = np.asarray(image)
    except OSError as exc:
        return f"not an image ({exc})"
    if rgba.shape[:2] != pixels.shape[:2]:
        return f"size {rgba.shape[1]}x{rgba.shape[0]}, sent {pixels.shape[1]}x{pixels.shape[0]}"
    opaque = rgba[..., 3] == 255
    if not opaque.any():
        return "empty"  # nothing kept: reported apart, not a wrong cutout
    difference = np.abs(rgba[..., :3][opaque].astype(int) - pixels[opaque].astype(int)).mean()
    return f"opaque pixels differ from the photo's by {difference:.1f} on average" if difference > 2 else ""


@dataclass
class SoakReport:
    calls: int
    clients: int
    seconds: float
    statuses: dict[str, int]
    accepted_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p99_over_p50: float
    wrong_cutouts: int
    empty_cutouts: int
    server_errors: int
    backpressure_without_retry_after: int
    rss_after_first_mb: float
    rss_end_mb: float
    rss_growth_percent: float
    first: int
    rss_mb_by_calls: dict[str, float]  # after every `first` calls: a one-time step and a steady climb look apart
    max_waiting_cutouts: int  # the server's
    waiting_room_seconds: float  # a full waiting room served at the measured rate: what its last caller waits
    waiting_room_for_target: int  # the calls served in WAITING_ROOM_TARGET_SECONDS at the measured rate
    notes: list[str] = field(default_factory=list)


class Tally:
    """What the clients saw, under one lock."""

    def __init__(self, calls: int) -> None:
        self.lock = threading.Lock()
        self.calls, self.next_index, self.completed = calls, 0, 0
        self.statuses: dict[str, int] = {}
        self.latencies: list[float] = []
        self.wrong: list[str] = []
        self.empty = self.missing_retry_after = 0
        self.first_error: dict[str, str] = {}  # per unexpected status, the first reply's text

    def take(self) -> int | None:
        with self.lock:
            if self.next_index >= self.calls:
                return None
            self.next_index += 1
            return self.next_index - 1

    def record(self, status: int, took_ms: float, problem: str, retry_after: bool, text: str = "") -> int:
        with self.lock:
            if status not in (200, 503):
                self.first_error.setdefault(str(status), text[:200])
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            if status == 200:
                self.latencies.append(took_ms)
                if problem == "empty":
                    self.empty += 1
                elif problem:
                    self.wrong.append(problem)
            if status in (429, 503) and not retry_after:
                self.missing_retry_after += 1
            self.completed += 1
            return self.completed


def run_soak(server: LiveServer, key: str, *, calls: int, clients: int, first: int, max_seconds: float) -> SoakReport:
    printed = server.manage("shell", "-c", "from django.conf import settings; print(settings.MAX_WAITING_CUTOUTS)")
    max_waiting = int(printed.strip().splitlines()[-1])
    photos, tally = Photos(), Tally(calls)
    assert server.process is not None
    pid = server.process.pid
    rss_by_calls: dict[str, float] = {}
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline and (index := tally.take()) is not None:
            jpeg, pixels = photos.make(index)
            started = time.monotonic()
            reply = session.post(
                f"{server.url}/bgremove",
                files={"file": (f"soak{index}.jpg", jpeg, "image/jpeg")},
                data={"blob": "1"},
                headers={"X-Api-Key": key},
                timeout=120,
            )
            took_ms = (time.monotonic() - started) * 1000
            problem = cutout_problem(reply.content, pixels) if reply.status_code == 200 else ""
            text = reply.text if reply.status_code not in (200, 503) else ""
            completed = tally.record(reply.status_code, took_ms, problem, "Retry-After" in reply.headers, text)
            if first and completed % first == 0:
                rss_by_calls[str(completed)] = round(rss_bytes(pid) / 2**20, 1)
            if reply.status_code in (429, 503):
                time.sleep(float(reply.headers.get("Retry-After", "1")))

    for index in range(calls, calls + 4):  # each worker's first images grow its memory once: not load
        warm = requests.post(
            f"{server.url}/bgremove", files={"file": ("warm.jpg", photos.make(index)[0])}, headers={"X-Api-Key": key}
        )
        warm.raise_for_status()
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    rss_by_calls["end"] = round(rss_bytes(pid) / 2**20, 1)
    return _soak_report(tally, clients, seconds, first, rss_by_calls, max_waiting)


def _soak_report(
    tally: Tally, clients: int, seconds: float, first: int, rss_by_calls: dict[str, float], max_waiting: int
) -> SoakReport:
    rss_first, rss_end = rss_by_calls.get(str(first), 0.0), rss_by_calls["end"]
    per_second = len(tally.latencies) / seconds
    ordered = sorted(tally.latencies) or [0.0]

    def percentile(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1)

    p50 = round(statistics.median(ordered), 1)
    server_errors = sum(n for code, n in tally.statuses.items() if code.startswith("5") and code != "503")
    return SoakReport(
        calls=tally.completed,
        clients=clients,
        seconds=round(seconds, 1),
        statuses=dict(sorted(tally.statuses.items())),
        accepted_per_second=round(per_second, 2),
        p50_ms=p50,
        p90_ms=percentile(0.90),
        p99_ms=percentile(0.99),
        p99_over_p50=round(percentile(0.99) / p50, 2) if p50 else 0.0,
        wrong_cutouts=len(tally.wrong),
        empty_cutouts=tally.empty,
        server_errors=server_errors,
        backpressure_without_retry_after=tally.missing_retry_after,
        rss_after_first_mb=rss_first,
        rss_end_mb=rss_end,
        rss_growth_percent=round(100 * (rss_end - rss_first) / rss_first, 1) if rss_first else 0.0,
        first=first,
        rss_mb_by_calls=rss_by_calls,
        max_waiting_cutouts=max_waiting,
        waiting_room_seconds=round(max_waiting / per_second, 1) if per_second else 0.0,
        waiting_room_for_target=round(per_second * WAITING_ROOM_TARGET_SECONDS),
        notes=sorted(set(tally.wrong))[:10] + [f"{code}: {text}" for code, text in tally.first_error.items()],
    )


def soak_passed(report: SoakReport) -> list[str]:
    """What the embedded soak failed of its criteria; [] when it passed."""
    failures = []
    if unexpected := {code: n for code, n in report.statuses.items() if code not in ("200", "503")}:
        failures.append(f"replies other than 200 and 503: {unexpected}")
    if report.server_errors:
        failures.append(f"{report.server_errors} 5xx other than 503")
    if report.wrong_cutouts:
        failures.append(f"{report.wrong_cutouts} wrong cutouts")
    if report.p99_over_p50 > 3:
        failures.append(f"p99 is {report.p99_over_p50}x p50")
    if report.rss_growth_percent > 10:
        failures.append(f"RSS grew {report.rss_growth_percent} % after the first {report.first} calls")
    return failures


def run_embedded(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="bgsite-soak-"))
    server = LiveServer(data_dir=data_dir, env_overrides={"RATE_LIMITS_ENABLED": "false"})
    try:
        server.start()
        key = server.create_user("soak")
        report = run_soak(
            server, key, calls=args.calls, clients=args.clients, first=args.first, max_seconds=args.max_seconds
        )
        return {**asdict(report), "failures": soak_passed(report)}
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--first", type=int, default=1000, help="RSS is compared with its value after these calls")
    parser.add_argument("--scaled", type=int, default=0, help="photos through the scaled topology's batch API")
    parser.add_argument("--max-seconds", type=float, default=1800, help="each phase stops after this long")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.calls:
        results["embedded"] = run_embedded(args)
    if args.scaled:
        results["scaled"] = run_scaled(Photos(), count=args.scaled, max_seconds=args.max_seconds)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    failed = any(phase["failures"] for phase in results.values())
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
