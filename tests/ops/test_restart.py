"""Live: kill the embedded server mid-batch; after a restart every item is done exactly once."""

import io
import sqlite3
import time
import zipfile
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, frozen_when, mid_batch, photo_bytes

pytestmark = pytest.mark.live

PHOTOS = 6


def item_rows(server: LiveServer) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(server.data_dir / "db.sqlite3") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT id, filename, status, attempts, result, finished_at FROM removal_item").fetchall()
    return {row["filename"]: dict(row) for row in rows}


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_jobs_queued_or_running_when_killed_are_finished_after_restart(server_factory: Any) -> None:
    server = server_factory(EMBEDDED_WORKERS="1", ITEM_LEASE_SECONDS="3")
    server.start()
    key = server.create_user("restarter")
    photo = photo_bytes("coffee.png", size=(1280, 960))
    files = [("files", (f"p{index}.jpg", photo, "image/jpeg")) for index in range(PHOTOS)]
    reply = requests.post(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=60)
    assert reply.status_code == 201, reply.text
    batch = reply.json()

    # Kill the process (no clean shutdown) while one item is processing and others wait; it is frozen
    # there first, so the rows read are exactly what the kill leaves behind.
    assert server.process is not None
    before = frozen_when(server.process, lambda: item_rows(server), mid_batch)
    server.stop(kill=True)

    server.start()
    url = f"{server.url}/api/v1/batches/{batch['id']}"
    wait_for(
        lambda: requests.get(url, headers={"X-Api-Key": key}, timeout=10).json()["status"] == "done", 180, "the batch"
    )
    after = item_rows(server)
    assert {row["status"] for row in after.values()} == {"done"}
    for name, row in before.items():
        if row["status"] == "done":  # finished before the kill: never redone
            assert after[name] == row
        elif row["status"] == "processing":  # lost mid-job: claimed once more
            assert after[name]["attempts"] == row["attempts"] + 1
        else:
            assert after[name]["attempts"] == 1

    download = requests.get(f"{server.url}{batch['zip']}", headers={"X-Api-Key": key}, timeout=60)
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.namelist()[-1] == "manifest.json"
        assert sorted(archive.namelist()[:-1]) == [f"p{index}.png" for index in range(PHOTOS)]
    server.stop()
