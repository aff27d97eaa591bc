"""bgsite as `make run` serves it (the test suite's LiveServer: uvicorn, 2 embedded workers), over its public API.

`fronts` puts the same folder of photos through the two bulk front doors, each timed from its first step
to every cutout on the user's disk: the upload page in Chromium (files chosen to zip downloaded) and the
`bgsite` CLI (start to exit; it downloads each cutout as it finishes), on one server, one after the other,
each as its own user with photos of its own (no result is reused between them).
"""

import io
import json
import os
import re
import statistics
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

from bench.common import REPO, log, throughput, unique_jpeg
from tests.conftest import CHROMIUM, LiveServer, PeakRss, launch_chromium

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


PASSWORD = "correct horse battery"
DONE_TIMEOUT_MS = 1_800_000


def write_folder(folder: Path, photos: list[bytes], tag: str) -> list[Path]:
    """The photos as JPEG files of their own (bytes made distinct per `tag`)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo-{index:03d}.jpg" for index in range(len(photos))]
    for index, (path, data) in enumerate(zip(paths, photos, strict=True)):
        path.write_bytes(unique_jpeg(data, f"{tag}-{index}"))
    return paths


def page_run(server: LiveServer, username: str, paths: list[Path], downloads: Path) -> dict[str, Any]:
    """Log in, choose the files on the upload page, wait for "N of N done", download the zip."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_context(base_url=server.url, accept_downloads=True).new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/$"))
        started = time.perf_counter()
        page.set_input_files("#file-input", [str(path) for path in paths])
        expect(page.locator("#overall")).to_have_text(
            f"{len(paths)} of {len(paths)} done, 0 failed", timeout=DONE_TIMEOUT_MS
        )
        done = time.perf_counter()
        with page.expect_download(timeout=DONE_TIMEOUT_MS) as download:
            page.click("#download-zip")
        zip_path = downloads / "page.zip"
        download.value.save_as(zip_path)
        finished = time.perf_counter()
        browser.close()
    with zipfile.ZipFile(zip_path) as archive:
        cutouts = [name for name in archive.namelist() if name != MANIFEST]
    if len(cutouts) != len(paths):
        raise RuntimeError(f"the page's zip holds {len(cutouts)} cutouts, not {len(paths)}")
    return throughput(len(paths), finished - started, cutouts_done_s=done - started)


def cli_run(server: LiveServer, key: str, folder: Path, out: Path) -> dict[str, Any]:
    """`bgsite remove FOLDER -o OUT` as a user runs it, from the client/ package."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "client"), "BGSITE_URL": server.url, "BGSITE_API_KEY": key}
    command = [sys.executable, "-m", "bgsite_client", "remove", str(folder), "-o", str(out), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"bgsite remove exited {done.returncode}: {done.stderr[-2000:]}")
    written = list(out.rglob("*.png"))
    if len(written) != len(list(folder.glob("*.jpg"))):
        raise RuntimeError(f"bgsite remove wrote {len(written)} cutouts")
    return throughput(len(written), seconds)


def fronts(photos: list[bytes]) -> dict[str, Any]:
    """The page's and the CLI's runs over the same photos (each its own copy), on one fresh server."""
    if not CHROMIUM.exists():
        raise RuntimeError("chromium is not installed (apt-get install chromium): the page cannot be timed")
    work = Path(tempfile.mkdtemp(prefix="bench-fronts-"))
    server = LiveServer(data_dir=work / "data")
    server.manage("migrate", "--noinput", "-v", "0")
    keys = {name: server.create_user(name, PASSWORD) for name in ("page", "cli")}
    server.start()
    page_photos = write_folder(work / "page", photos, "page")
    write_folder(work / "cli-in", photos, "cli")
    try:
        results = {
            "page": page_run(server, "page", page_photos, work),
            "cli": cli_run(server, keys["cli"], work / "cli-in", work / "cli-out"),
        }
    finally:
        server.stop()
    log(f"fronts: page {results['page']}; cli {results['cli']}")
    return results
