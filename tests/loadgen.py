"""A bounded load generator: concurrent /bgremove calls plus a big batch upload, at once.

Used by tests/ops/test_load.py (short) and `make loadtest` (long):

    python -m tests.loadgen --bgremove 200 --batch 500

It starts its own embedded server, runs the load from this (second) process
over loopback, follows Retry-After on 429/503 for the batch upload (a
well-behaved client), and reports status counts, latencies, back-pressure
replies, whether all accepted work was done, and the server's peak RSS.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from tests.conftest import LiveServer, PeakRss, photo_bytes


@dataclass
class LoadReport:
    bgremove_requests: int
    bgremove_statuses: dict[str, int]
    bgremove_p50_ms: float
    bgremove_p99_ms: float
    backpressure_without_retry_after: int
    batch_files: int
    batch_accepted: int
    batch_done: int
    batch_upload_statuses: dict[str, int]
    batch_seconds: float
    server_errors: int
    peak_rss_mb: float
    baseline_rss_mb: float
    notes: list[str] = field(default_factory=list)


def _warm_up(server: LiveServer, key: str, image: bytes) -> None:
    files = {"file": ("warm.jpg", image, "image/jpeg")}
    requests.post(f"{server.url}/bgremove", files=files, data={"key": key}, timeout=120).raise_for_status()


def run_load(
    server: LiveServer, key: str, batch_key: str, *, bgremove: int, batch: int, chunk: int = 100
) -> LoadReport:
    """`bgremove` concurrent calls with `key` while `batch_key`'s owner uploads `batch` files."""
    image = photo_bytes("chelsea.png", size=(64, 48))
    assert server.process is not None
    pid = server.process.pid
    # Warm every worker's model first: its first inferences grow memory once
    # (ONNX Runtime's arena), which is not load.
    with ThreadPoolExecutor(max_workers=4) as warmers:
        list(warmers.map(lambda _: _warm_up(server, batch_key, image), range(4)))

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    missing_retry_after = 0
    lock = threading.Lock()

    def one_bgremove(index: int) -> None:
        nonlocal missing_retry_after
        started = time.monotonic()
        reply = requests.post(
            f"{server.url}/bgremove",
            files={"file": (f"b{index}.jpg", image, "image/jpeg")},
            data={"key": key, "blob": "1"},
            timeout=300,
        )
        with lock:
            statuses[str(reply.status_code)] += 1
            if reply.status_code == 200:
                latencies.append((time.monotonic() - started) * 1000)
            if reply.status_code in (429, 503) and "Retry-After" not in reply.headers:
                missing_retry_after += 1

    upload_statuses: Counter[str] = Counter()
    accepted_ids: list[str] = []
    batch_started = time.monotonic()

    def upload_batch() -> None:
        batch_id = None
        sent = 0
        while sent < batch:
            files = [
                ("files", (f"f{index}.jpg", image, "image/jpeg")) for index in range(sent, min(batch, sent + chunk))
            ]
            url = f"{server.url}/api/v1/batches" + (f"/{batch_id}/files" if batch_id else "")
            reply = requests.post(url, headers={"X-Api-Key": batch_key}, files=files, timeout=300)
            upload_statuses[str(reply.status_code)] += 1
            if reply.status_code in (429, 503):
                time.sleep(min(float(reply.headers.get("Retry-After", "1")), 30))
                continue  # the same files again: nothing accepted is lost, nothing sent twice
            reply.raise_for_status()
            body = reply.json()
            batch_id = body["id"]
            accepted_ids.extend(item["id"] for item in body["items"])
            sent += len(files)
        while True:
            state = requests.get(
                f"{server.url}/api/v1/batches/{batch_id}", headers={"X-Api-Key": batch_key}, timeout=60
            )
            if state.json()["status"] == "done":
                nonlocal batch_done
                batch_done = state.json()["counts"]["done"]
                return
            time.sleep(0.5)

    batch_done = 0
    with PeakRss(pid, interval=0.1) as memory:
        uploader = threading.Thread(target=upload_batch)
        uploader.start()
        with ThreadPoolExecutor(max_workers=bgremove) as pool:
            list(pool.map(one_bgremove, range(bgremove)))
        uploader.join()
        batch_seconds = time.monotonic() - batch_started

    ordered = sorted(latencies) or [0.0]
    server_errors = sum(n for code, n in (statuses + upload_statuses).items() if code.startswith("5") and code != "503")
    return LoadReport(
        bgremove_requests=bgremove,
        bgremove_statuses=dict(statuses),
        bgremove_p50_ms=round(statistics.median(ordered), 1),
        bgremove_p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        backpressure_without_retry_after=missing_retry_after,
        batch_files=batch,
        batch_accepted=len(accepted_ids),
        batch_done=batch_done,
        batch_upload_statuses=dict(upload_statuses),
        batch_seconds=round(batch_seconds, 1),
        server_errors=server_errors,
        peak_rss_mb=round(memory.peak / 2**20, 1),
        baseline_rss_mb=round(memory.baseline / 2**20, 1),
    )


def start_server(data_dir: Path, **env: str) -> tuple[LiveServer, str, str]:
    server = LiveServer(data_dir=data_dir, env_overrides=env)
    server.start()
    return server, server.create_user("caller"), server.create_user("uploader")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bgremove", type=int, default=200, help="concurrent /bgremove calls")
    parser.add_argument("--batch", type=int, default=500, help="files in the batch uploaded meanwhile")
    parser.add_argument("--max-queued", default="300", help="the server's MAX_QUEUED_ITEMS (back-pressure)")
    parser.add_argument("--output", type=Path, help="write the report as JSON here")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bgsite-load-"))
    server, key, batch_key = start_server(data_dir, MAX_QUEUED_ITEMS=args.max_queued)
    try:
        report = run_load(server, key, batch_key, bgremove=args.bgremove, batch=args.batch)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    text = json.dumps(asdict(report), indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    ok = report.server_errors == 0 and report.batch_done == report.batch_accepted == report.batch_files
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
