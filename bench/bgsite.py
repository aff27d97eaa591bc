"""bgsite served as `make run` serves it (uvicorn, embedded workers), driven over its public API."""

import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import connect

from bench.common import (
    MODEL_DIR,
    REPO,
    LatencyRun,
    RssSampler,
    first_result_seconds,
    free_port,
    median,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    run_requests,
    stop_process,
)
from tests.conftest import run_manage

CREATE_USERS = """
import json
from django.contrib.auth.models import User
from accounts.services import api_key_create
keys = {{}}
for name in {names!r}:
    user = User.objects.create_user(name, password="bench bench bench")
    keys[name] = api_key_create(user=user, name="bench")[1]
print("KEYS " + json.dumps(keys))
"""

# Server-side timestamps of a user's /bgremove items, to split latency into queue, work and the rest.
ITEM_TIMINGS = """
import json
from removal.models import Item
rows = Item.objects.filter(batch__owner__username={username!r}, status="done").values_list(
    "queued_at", "started_at", "finished_at", "processing_ms")
print("TIMINGS " + json.dumps([
    [(s - q).total_seconds() * 1000, (f - q).total_seconds() * 1000, p] for q, s, f, p in rows if s and f]))
"""


class BgsiteServer:
    def __init__(self, data_dir: Path, **env_overrides: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "bgsite.settings",
            "U2NET_HOME": str(MODEL_DIR),
            "PYTHONUNBUFFERED": "1",
            **env_overrides,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.keys: dict[str, str] = {}

    def manage(self, *args: str) -> str:
        return run_manage(self.env, *args)

    def prepare(self, usernames: list[str]) -> None:
        """Database and API keys, before the server process starts (not part of its cold start)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        output = self.manage("shell", "-c", CREATE_USERS.format(names=usernames))
        self.keys = json.loads(output.split("KEYS ", 1)[1])

    def start(self) -> None:
        log = (self.data_dir / "server.log").open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "bgsite.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--lifespan", "on", "--ws", "websockets-sansio", "--no-access-log"),
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    # --- /bgremove ---------------------------------------------------------------------

    def bgremove(self, http: requests.Session, key: str, image: bytes, *, timeout: float = 180) -> bytes:
        reply = http.post(
            f"{self.url}/bgremove",
            headers={"X-Api-Key": key},
            files={"file": ("photo.jpg", image, "image/jpeg")},
            data={"blob": "1"},
            timeout=timeout,
        )
        if reply.status_code != 200 or reply.headers.get("content-type") != "image/png":
            raise RuntimeError(f"/bgremove answered {reply.status_code}: {reply.text[:300]}")
        return reply.content

    def first_result_seconds(self, key: str, image: bytes, timeout: float = 120) -> float:
        assert self.process is not None
        return first_result_seconds(
            "bgsite", self.process, self.started_at, lambda http: self.bgremove(http, key, image), self.log, timeout
        )

    def run(self, key: str, images: list[bytes], concurrency: int) -> LatencyRun:
        sessions = [requests.Session() for _ in range(concurrency)]
        try:
            return run_requests(
                lambda client, image: self.bgremove(sessions[client], key, image), images, concurrency=concurrency
            )
        finally:
            for http in sessions:
                http.close()

    def item_timings(self, username: str) -> dict[str, float]:
        """Median queue wait, queue-to-finished and worker time of the user's /bgremove items (ms)."""
        try:
            output = self.manage("shell", "-c", ITEM_TIMINGS.format(username=username))
            rows = json.loads(output.split("TIMINGS ", 1)[1])
        except (RuntimeError, IndexError, ValueError):
            return {}
        return {
            "queue_wait_ms_p50": round(median(row[0] for row in rows), 1),
            "queued_to_finished_ms_p50": round(median(row[1] for row in rows), 1),
            "worker_ms_p50": round(median(row[2] for row in rows if row[2] is not None), 1),
        }

    # --- batches ---------------------------------------------------------------------------

    def _post_files(self, http: requests.Session, key: str, url: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        reply = http.post(
            url,
            headers={"X-Api-Key": key},
            files=[("files", (name, data, "image/jpeg")) for name, data in files],
            timeout=300,
        )
        if reply.status_code != 201:
            raise RuntimeError(f"{url} answered {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def batch_upload(
        self, key: str, files: list[tuple[str, bytes]], *, per_request: int, batch_id: str | None = None
    ) -> tuple[str, float]:
        """Upload `files` in requests of `per_request`; (batch id, time the first request started)."""
        started = time.perf_counter()
        with requests.Session() as http:
            for start in range(0, len(files), per_request):
                chunk = files[start : start + per_request]
                if batch_id is None:
                    batch_id = self._post_files(http, key, f"{self.url}/api/v1/batches", chunk)["id"]
                else:
                    self._post_files(http, key, f"{self.url}/api/v1/batches/{batch_id}/files", chunk)
        assert batch_id is not None
        return batch_id, started

    def bulk(self, key: str, files: list[tuple[str, bytes]], *, per_request: int = 10) -> dict[str, Any]:
        """Upload all files as one batch and follow the websocket until every item is done.

        Images/s is counted from the first byte of the upload to the event that
        says the last item is done.
        """
        total = len(files)
        started = time.perf_counter()
        with requests.Session() as http:
            first = self._post_files(http, key, f"{self.url}/api/v1/batches", files[:per_request])
            batch_id = first["id"]
            watcher = _BatchWatcher(f"{self.ws_url}/ws/batches/{batch_id}", key, total)
            watcher.start()
            for start in range(per_request, total, per_request):
                self._post_files(
                    http, key, f"{self.url}/api/v1/batches/{batch_id}/files", files[start : start + per_request]
                )
            uploaded = time.perf_counter()
        watcher.join(timeout=600)
        if watcher.finished_at is None:
            raise RuntimeError(f"the batch did not finish: {watcher.error or watcher.last}")
        seconds = watcher.finished_at - started
        return {
            "images": total,
            "per_request": per_request,
            "seconds": round(seconds, 3),
            "upload_seconds": round(uploaded - started, 3),
            "ips": round(total / seconds, 3),
            "done": watcher.counts.get("done", 0),
            "failed": watcher.counts.get("failed", 0),
            "worker_ms_p50": round(median(watcher.processing_ms), 1),
            "events": watcher.events,
        }

    def wait_batch_done(self, key: str, batch_id: str, total: int, timeout: float = 900) -> dict[str, Any]:
        watcher = _BatchWatcher(f"{self.ws_url}/ws/batches/{batch_id}", key, total)
        watcher.start()
        watcher.join(timeout=timeout)
        if watcher.finished_at is None:
            raise RuntimeError(f"batch {batch_id} did not finish: {watcher.error or watcher.last}")
        return watcher.counts

    def zip_download(self, key: str, batch_id: str) -> dict[str, Any]:
        """Stream the batch's zip at full speed; server RSS growth over its level just before, and TTFB."""
        with requests.Session() as http:
            http.get(f"{self.url}/api/v1/batches", headers={"X-Api-Key": key}, timeout=30).raise_for_status()
            time.sleep(0.5)
            baseline = rss_mb(self.pid)
            exact = reset_peak_rss(self.pid)
            body = io.BytesIO()
            with RssSampler(self.pid) as sampler:
                started = time.perf_counter()
                first_byte = None
                with http.get(
                    f"{self.url}/api/v1/batches/{batch_id}/zip", headers={"X-Api-Key": key}, stream=True, timeout=600
                ) as reply:
                    if reply.status_code != 200:
                        raise RuntimeError(f"zip answered {reply.status_code}: {reply.text[:300]}")
                    for chunk in reply.iter_content(64 * 1024):
                        if first_byte is None:
                            first_byte = time.perf_counter() - started
                        body.write(chunk)
                seconds = time.perf_counter() - started
        # VmHWM after a reset is exact; the 10 ms samples are a cross-check (and the fallback).
        peak = max(peak_rss_mb(self.pid), sampler.peak) if exact else sampler.peak
        with zipfile.ZipFile(body) as archive:
            members = len(archive.namelist())
            bad = archive.testzip()
        if bad is not None:
            raise RuntimeError(f"zip member {bad} is corrupt")
        return {
            "members": members,
            "zip_mb": round(body.tell() / 1e6, 1),
            "ttfb_s": round(first_byte or seconds, 3),
            "seconds": round(seconds, 2),
            "baseline_rss_mb": round(baseline, 1),
            "peak_rss_mb": round(peak, 1),
            "rss_growth_mb": round(max(0.0, peak - baseline), 1),
            "sampled_peak_rss_mb": round(sampler.peak, 1),
            "peak_method": "VmHWM reset before the download" if exact else "RSS sampled every 10 ms",
        }


class _BatchWatcher(threading.Thread):
    """Follows a batch's websocket until it reports all `total` items finished."""

    def __init__(self, url: str, key: str, total: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.total = url, key, total
        self.finished_at: float | None = None
        self.counts: dict[str, int] = {}
        self.processing_ms: list[float] = []
        self.events = 0
        self.last: Any = None
        self.error = ""

    def run(self) -> None:
        try:
            with connect(self.url, additional_headers={"X-Api-Key": self.key}, open_timeout=30) as socket:
                while True:
                    message = json.loads(socket.recv(timeout=600))
                    self.events += 1
                    self.last = message
                    item = message.get("item")
                    if item and item.get("status") == "done" and item.get("processing_ms") is not None:
                        self.processing_ms.append(item["processing_ms"])
                    summary = message.get("batch") or {}
                    counts = summary.get("counts") or {}
                    if summary.get("status") == "done" and counts.get("total") == self.total:
                        self.finished_at = time.perf_counter()
                        self.counts = counts
                        return
        except Exception as exc:
            self.error = f"{exc.__class__.__name__}: {exc}"


def new_data_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def server_peak_rss_mb(server: BgsiteServer) -> float:
    return peak_rss_mb(server.pid)
