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
from bgsite_client.server import Server

from bench.common import REPO, log, throughput, unique_jpeg
from tests.conftest import CHROMIUM, LiveServer, PeakRss, launch_chromium

# Every zip holds this beside the cutouts (removal.services.MANIFEST_NAME).
MANIFEST = "manifest.json"
PASSWORD = "correct horse battery"
DONE_TIMEOUT_MS = 1_800_000  # the upload page's wait for a whole folder's cutouts
# One shell for every user and key (a `createapikey` per user would start Django a dozen times).
CREATE_KEYS = """
import json
from django.contrib.auth.models import User
from accounts.services import api_key_create
users = {name: User.objects.create_user(name, password=%r) for name in %r}
print("KEYS " + json.dumps({name: api_key_create(user=user, name="bench")[1] for name, user in users.items()}))
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
    """A user (with PASSWORD) and an API key per name (one key per phase keeps each under the rate limit)."""
    server.migrate()  # as start() would, which then finds it done
    return json.loads(server.manage("shell", "-c", CREATE_KEYS % (PASSWORD, usernames)).split("KEYS ", 1)[1])


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


def send(
    client: Server, files: list[tuple[str, bytes]], batch: str = "", *, total: int = 0, per_request: int = 100
) -> tuple[str, float]:
    """`files` into `batch` (a new one when ""), `per_request` to a request, while the batch's events are followed
    until `total` of its items (by default as many as the files) are done: the batch's id and when that was."""
    chunks = [
        [(name, io.BytesIO(data)) for name, data in files[i : i + per_request]]
        for i in range(0, len(files), per_request)
    ]
    batch = batch or str(client.upload("/api/v1/batches", chunks.pop(0), {})["id"])
    failed: list[Exception] = []

    def upload_rest() -> None:
        try:
            for chunk in chunks:
                client.upload(f"/api/v1/batches/{batch}/files", chunk, {})
        except Exception as exc:
            failed.append(exc)

    threading.Thread(target=upload_rest, daemon=True).start()
    done: set[str] = set()
    deadline = time.perf_counter() + 900
    for item in client.batch_items(batch):  # at least every 30 s: a quiet websocket falls back to HTTP
        if failed or item["status"] == "failed" or time.perf_counter() > deadline:
            raise RuntimeError(f"the batch did not finish: {failed or item}")
        done |= {item["id"]} if item["status"] == "done" else set()
        if len(done) == (total or len(files)):
            return batch, time.perf_counter()
    raise AssertionError("batch_items never ends")


def bulk(server: LiveServer, key: str, files: list[tuple[str, bytes]], per_request: int = 10) -> dict[str, Any]:
    """All files as one batch, from the first byte of the upload to the event that says the last is done."""
    started = time.perf_counter()
    _, finished = send(Server(server.url, key, timeout=300), files, per_request=per_request)
    return throughput(len(files), finished - started)


def zip_download(server: LiveServer, key: str, distinct: list[tuple[str, bytes]], total: int) -> dict[str, Any]:
    """A batch of `total` small cutouts, made cheaply (the `distinct` photos are processed, the rest are the same
    bytes again, which result reuse answers), then its zip streamed at full speed while the server's RSS is sampled."""
    client = Server(server.url, key, timeout=600)
    batch, _ = send(client, distinct)
    copies = [(f"copy-{i:04d}.jpg", distinct[i % len(distinct)][1]) for i in range(total - len(distinct))]
    send(client, copies, batch, total=total)  # the copies once the originals are done
    time.sleep(0.5)
    assert server.process is not None
    body, first_byte = io.BytesIO(), None
    with PeakRss(server.process.pid, interval=0.01) as rss:
        started = time.perf_counter()
        with client.request("GET", f"/api/v1/batches/{batch}/zip", stream=True) as reply:
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
    keys = create_keys(server, ["page", "cli"])
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
