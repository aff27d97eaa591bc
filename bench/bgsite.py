"""bgsite as `make run` serves it (the test suite's LiveServer: uvicorn, 2 embedded workers), over its public API."""

import io
import json
import statistics
import threading
import time
import zipfile
from typing import Any

import requests
from websockets.sync.client import connect

from bench.common import throughput
from tests.conftest import LiveServer, PeakRss, rss_bytes

# One shell for every key (a `createapikey` per user would start Django a dozen times).
# Every zip holds this beside the cutouts (removal.services.MANIFEST_NAME).
MANIFEST = "manifest.json"

CREATE_KEYS = """
import json
from django.contrib.auth.models import User
from accounts.services import api_key_create
print("KEYS " + json.dumps({name: api_key_create(user=User.objects.create_user(name), name="bench")[1]
                            for name in %r}))
"""
# Server-side timestamps of a user's /bgremove items: latency split into queue, work and the rest.
ITEM_TIMINGS = """
import json
from removal.models import Item
rows = Item.objects.filter(batch__owner__username=%r, status="done").values_list(
    "queued_at", "started_at", "finished_at", "processing_ms")
print("TIMINGS " + json.dumps([[(s - q).total_seconds() * 1000, (f - q).total_seconds() * 1000, p]
                               for q, s, f, p in rows if s and f and p is not None]))
"""


def create_keys(server: LiveServer, usernames: list[str]) -> dict[str, str]:
    """A user and an API key per name (one key per phase keeps each under the rate limit)."""
    server.manage("migrate", "--noinput", "-v", "0")
    keys: dict[str, str] = json.loads(server.manage("shell", "-c", CREATE_KEYS % usernames).split("KEYS ", 1)[1])
    return keys


def bgremove(server: LiveServer, key: str, http: requests.Session, image: bytes) -> bytes:
    files, headers = {"file": ("photo.jpg", image)}, {"X-Api-Key": key}
    reply = http.post(f"{server.url}/bgremove", headers=headers, files=files, data={"blob": "1"}, timeout=180)
    if reply.status_code != 200 or reply.headers.get("content-type") != "image/png":
        raise RuntimeError(f"/bgremove answered {reply.status_code}: {reply.text[:300]}")
    return reply.content


def item_timings(server: LiveServer, username: str) -> dict[str, float]:
    """Median ms of the user's /bgremove items: queued before a worker took it, queued to finished, in the worker."""
    rows = json.loads(server.manage("shell", "-c", ITEM_TIMINGS % username).split("TIMINGS ", 1)[1])
    return {
        name: round(statistics.median(row[column] for row in rows), 1)
        for column, name in enumerate(("queue_wait_ms_p50", "queued_to_finished_ms_p50", "worker_ms_p50"))
    }


def upload(server: LiveServer, http: requests.Session, key: str, files: list[tuple[str, bytes]], batch: str) -> str:
    """Files into batch `batch`, or into a new batch when it is ""; the batch's id."""
    url = f"{server.url}/api/v1/batches" + (f"/{batch}/files" if batch else "")
    reply = http.post(url, headers={"X-Api-Key": key}, files=[("files", file) for file in files], timeout=300)
    if reply.status_code != 201:
        raise RuntimeError(f"{url} answered {reply.status_code}: {reply.text[:300]}")
    return batch or str(reply.json()["id"])


class BatchWatcher(threading.Thread):
    """Follows a batch's websocket until it reports all `total` items finished."""

    def __init__(self, server: LiveServer, key: str, batch: str, total: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.total = f"{server.ws_url}/ws/batches/{batch}", key, total
        self.finished_at: float | None = None
        self.last: Any = None

    def run(self) -> None:
        with connect(self.url, additional_headers={"X-Api-Key": self.key}, open_timeout=30) as socket:
            while True:
                self.last = json.loads(socket.recv(timeout=600)).get("batch") or {}
                if self.last.get("status") == "done" and self.last.get("counts", {}).get("total") == self.total:
                    self.finished_at = time.perf_counter()
                    return

    def wait(self) -> None:
        self.join(timeout=900)
        if self.finished_at is None:
            raise RuntimeError(f"the batch did not finish: {self.last}")


def bulk(server: LiveServer, key: str, files: list[tuple[str, bytes]], per_request: int = 10) -> dict[str, Any]:
    """All files as one batch, from the first byte of the upload to the event that says it is done."""
    with requests.Session() as http:
        started = time.perf_counter()
        batch = upload(server, http, key, files[:per_request], "")
        watcher = BatchWatcher(server, key, batch, len(files))
        watcher.start()
        for start in range(per_request, len(files), per_request):
            upload(server, http, key, files[start : start + per_request], batch)
    watcher.wait()
    assert watcher.finished_at is not None
    seconds = watcher.finished_at - started
    return throughput(len(files), seconds)


def zip_download(server: LiveServer, key: str, distinct: list[tuple[str, bytes]], total: int) -> dict[str, Any]:
    """A batch of `total` small cutouts, made cheaply (the `distinct` photos are processed, the rest are the same
    bytes again, which result reuse answers), then its zip streamed at full speed while the server's RSS is sampled."""
    with requests.Session() as http:
        batch = upload(server, http, key, distinct, "")
        copies = [(f"copy-{i:04d}.jpg", distinct[i % len(distinct)][1]) for i in range(total - len(distinct))]
        for count, files in ((len(distinct), []), (total, copies)):  # the copies once the originals are done
            watcher = BatchWatcher(server, key, batch, count)
            watcher.start()
            for start in range(0, len(files), 100):
                upload(server, http, key, files[start : start + 100], batch)
            watcher.wait()
        time.sleep(0.5)
        assert server.process is not None
        body, first_byte = io.BytesIO(), None
        with PeakRss(server.process.pid, interval=0.01) as rss:
            started = time.perf_counter()
            url = f"{server.url}/api/v1/batches/{batch}/zip"
            with http.get(url, headers={"X-Api-Key": key}, stream=True, timeout=600) as reply:
                reply.raise_for_status()
                for chunk in reply.iter_content(64 * 1024):
                    first_byte = first_byte or time.perf_counter() - started
                    body.write(chunk)
    with zipfile.ZipFile(body) as archive:
        cutouts = [name for name in archive.namelist() if name != MANIFEST]
        if len(cutouts) != total or MANIFEST not in archive.namelist() or archive.testzip() is not None:
            raise RuntimeError(f"the zip has {len(cutouts)} cutouts of {total}, or no {MANIFEST}, or a corrupt member")
    return {
        "members": total,
        "distinct_photos": len(distinct),
        "zip_mb": round(body.tell() / 1e6, 1),
        "ttfb_s": round(first_byte or 0.0, 3),
        "rss_growth_mb": round((rss.peak - rss.baseline) / 2**20, 1),
    }


def peak_rss_mb(server: LiveServer) -> float:
    assert server.process is not None
    return rss_bytes(server.process.pid, "VmHWM") / 2**20
