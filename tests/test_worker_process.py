"""Live: the scaled shape on one machine: a web process without workers plus `manage.py runworker`."""

import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from tests.conftest import REPO, photo_bytes

pytestmark = pytest.mark.live


def test_separate_worker_process_does_the_work_and_stops_cleanly(server_factory: Any) -> None:
    web = server_factory(EMBEDDED_WORKERS="0")
    web.start()
    key = web.create_user("scaled")
    files = [
        ("files", (f"p{index}.jpg", photo_bytes("coffee.png", size=(320, 240)), "image/jpeg")) for index in range(3)
    ]
    batch = requests.post(f"{web.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=30).json()
    time.sleep(1)
    state = requests.get(f"{web.url}/api/v1/batches/{batch['id']}", headers={"X-Api-Key": key}, timeout=10).json()
    assert state["counts"]["queued"] == 3, "the web process alone must not process"

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--threads", "2"],
        cwd=REPO,
        env=web.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while state["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = requests.get(
                f"{web.url}/api/v1/batches/{batch['id']}", headers={"X-Api-Key": key}, timeout=10
            ).json()
        assert state["counts"]["done"] == 3, state
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "running 2 threads" in output and "stopping" in output
