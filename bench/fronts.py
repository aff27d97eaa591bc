"""The same folder of photos through the two bulk front doors: the upload page in Chromium, and the `bgsite` CLI.

Each is timed from its first step to every cutout on the user's disk: the page from the
files being chosen to the zip downloaded; the CLI from its start to its exit (it downloads
each cutout as it finishes). Both run against one server as `make run` starts it, one after
the other, each as its own user with photos of its own (no result is reused between them).
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.bgsite import MANIFEST
from bench.common import REPO, log, throughput, unique_jpeg
from tests.conftest import CHROMIUM, LiveServer, launch_chromium

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


def compare(photos: list[bytes]) -> dict[str, Any]:
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
