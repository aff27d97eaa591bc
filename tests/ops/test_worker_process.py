"""Live: worker threads in real processes: the scaled shape on one machine (a web process without workers plus
`manage.py runworker`), and a pool of threads sharing one model session (ORT_LAYOUT=shared)."""

import ctypes
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from PIL import Image

from removal.cutout.installed import installed_models
from tests.conftest import REPO, models_run_on, photo_bytes, sample_when_made

pytestmark = pytest.mark.live


def batch_when_done(url: str, key: str, batch_id: str, *, timeout: float) -> dict[str, Any]:
    """The batch's state once it is done, or as it stands when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = requests.get(
            f"{url}/api/v1/batches/{batch_id}", headers={"X-Api-Key": key}, timeout=10
        ).json()
        if state["status"] == "done" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_separate_worker_process_does_the_work_and_stops_cleanly(server_factory: Any, tmp_path: Path) -> None:
    """And the web process reports what the worker process runs the models on (here another layout than a process
    of its own settings would take), not what it would itself, which it never asks onnxruntime; it has no weights of
    its own (only the workers run the models), and takes the models the worker has. It serves the first screen's
    sample cutout once the worker has made it (it made it itself: a 503 for want of weights, whatever the workers
    had)."""
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    web = server_factory(EMBEDDED_WORKERS="0", U2NET_HOME=str(no_weights), sample_made=False)
    web.start()
    key = web.create_user("scaled")
    files = [
        ("files", (f"p{index}.jpg", photo_bytes("coffee.png", size=(320, 240)), "image/jpeg")) for index in range(3)
    ]
    batch = requests.post(f"{web.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=30).json()
    time.sleep(1)
    state = requests.get(f"{web.url}/api/v1/batches/{batch['id']}", headers={"X-Api-Key": key}, timeout=10).json()
    assert state["counts"]["queued"] == 3, "the web process alone must not process"
    assert models_run_on(web.url) == [[], None, None, []]
    not_yet = requests.get(f"{web.url}/sample/cutout.png", timeout=30)
    assert not_yet.status_code == 503 and not_yet.headers["Retry-After"] == "5"

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--threads", "2"],
        cwd=REPO,
        env={**web.env, "ORT_LAYOUT": "shared", "ORT_MAX_BATCH": "2", "U2NET_HOME": str(settings.U2NET_HOME)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state = batch_when_done(web.url, key, batch["id"], timeout=120)
        assert state["counts"]["done"] == 3, state
        cpu = ["CPUExecutionProvider"]
        worker_process = {"providers": cpu, "layout": "shared", "max_batch": 2, "processes": 1, "threads": 2}
        assert models_run_on(web.url) == [cpu, "shared", 2, [worker_process]]
        models = requests.get(f"{web.url}/api/v1/models", timeout=30).json()["models"]
        assert models == installed_models(settings.U2NET_HOME) and "u2netp" in models
        sample = sample_when_made(web.url, timeout=60)
        assert sample.status_code == 200 and sample.headers["Content-Type"] == "image/png", sample.text
        with Image.open(io.BytesIO(sample.content)) as cutout:
            assert cutout.mode == "RGBA" and cutout.size == (480, 480) and cutout.getextrema()[3] == (0, 255)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "running 2 threads" in output and "stopping" in output
    assert models_run_on(web.url) == [[], None, None, []]  # it stopped
    assert "models run on" not in web.log() and "ORT_PROVIDERS=auto" not in web.log()


def test_four_worker_threads_sharing_one_session_finish_a_batch(server_factory: Any) -> None:
    # The shared layout is what `auto` picks on a GPU; forced here on the CPU, with batches (ORT_MAX_BATCH is 1
    # by default). u2netp's graph runs batches.
    server = server_factory(EMBEDDED_WORKERS="4", ORT_LAYOUT="shared", ORT_MAX_BATCH="8", REMBG_MODEL="u2netp")
    server.start()
    key = server.create_user("sharer")
    photos = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"] * 2
    files = [
        ("files", (f"p{i}.jpg", photo_bytes(name, size=(640, 480)), "image/jpeg")) for i, name in enumerate(photos)
    ]
    batch = requests.post(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=60).json()
    state = batch_when_done(server.url, key, batch["id"], timeout=180)
    assert state["counts"]["done"] == 8, state
    model = requests.get(f"{server.url}/readyz", timeout=10).json()["checks"]["model"]
    assert (model["layout"], model["max_batch"], model["workers_in_this_process"]) == ("shared", 8, 4)
    assert "model sessions: shared, one per model for all worker threads, up to 8 images per run" in server.log()
    assert "u2netp runs up to 8 images per run" in server.log()
    assert "with 4 worker threads; GIL switch interval 1 ms" in server.log()
    server.stop()


def test_a_worker_process_takes_a_web_process_job_at_once_not_at_its_next_poll(
    server_factory: Any, redis_url: str
) -> None:
    """A web-only process tells the worker processes through the channel layer when it queues a job; they found it
    at their next poll before (WORKER_POLL_SECONDS, 0.5 s by default: a /bgremove call took 708 ms, 179 in one
    process). With polls an hour apart, the calls are answered at once."""
    web = server_factory(EMBEDDED_WORKERS="0", REDIS_URL=redis_url, BGREMOVE_TIMEOUT_SECONDS="20")
    web.start()
    key = web.create_user("waker")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--threads", "1"],
        cwd=REPO,
        env={**web.env, "WORKER_POLL_SECONDS": "3600"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert any("running 1 threads" in line for line in worker.stdout), "the worker did not start"
        time.sleep(2)  # its first look for jobs is over: it waits for the next
        for width in (200, 210):
            photo = {"file": ("p.jpg", photo_bytes("coffee.png", size=(width, 150)), "image/jpeg")}
            started = time.monotonic()
            reply = requests.post(f"{web.url}/bgremove", headers={"X-Api-Key": key}, files=photo, timeout=60)
            assert reply.status_code == 200, reply.text
            assert time.monotonic() - started < 10
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output


def test_a_worker_process_without_redis_warns_at_start(tmp_path: Any, migrated_data_dir: Path) -> None:
    """A `runworker` whose progress cannot leave it (no REDIS_URL) says so with removal.W002, as deploy.md promises:
    the check looked only at EMBEDDED_WORKERS, which a worker's environment leaves at its default, so it said
    nothing and browsers silently got no progress."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "bgsite.settings", "REDIS_URL": ""}
    env.pop("EMBEDDED_WORKERS", None)
    shutil.copytree(migrated_data_dir, tmp_path, dirs_exist_ok=True)  # as `manage.py migrate` leaves it
    output = worker_start_output(env)
    assert output.count("removal.W002") == 1, output


def test_a_worker_process_stops_when_a_thread_other_than_its_main_one_takes_the_sigterm(
    tmp_path: Any, migrated_data_dir: Path
) -> None:
    """Linux may hand a process's signal to any of its threads that does not block it, not always the main one, and
    Python's handler waits for the main thread to run Python code: runworker's main thread slept in Event.wait(),
    which a signal taken elsewhere never woke, and the worker never stopped (the test above, once in six full runs
    of the suite; 4 in 120 starts on two busy cores). Here the SIGTERM goes to each of its other threads."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "bgsite.settings", "REDIS_URL": ""}
    shutil.copytree(migrated_data_dir, tmp_path, dirs_exist_ok=True)
    output = worker_start_output(env, stop=sigterm_to_its_other_threads)
    assert "stopping: finishing the jobs in hand" in output


def sigterm_to_its_other_threads(worker: "subprocess.Popen[str]") -> None:
    """SIGTERM to each thread of `worker` but its main one (Linux: the threads listed in /proc, glibc's tgkill), a
    second after it started: its main thread asleep, as a deployment's SIGTERM finds it (one that still ran Python
    code ran the handler, and stopped the worker before the fix too)."""
    time.sleep(1)
    tgkill = ctypes.CDLL(None, use_errno=True).tgkill
    for thread_id in (int(name) for name in os.listdir(f"/proc/{worker.pid}/task")):
        if thread_id != worker.pid:
            tgkill(worker.pid, thread_id, signal.SIGTERM)


def sigterm(worker: "subprocess.Popen[str]") -> None:
    worker.send_signal(signal.SIGTERM)


def worker_start_output(env: dict[str, str], stop: Callable[["subprocess.Popen[str]"], None] = sigterm) -> str:
    """What `manage.py runworker --threads 1` writes with `env` until it has started, and as it stops once `stop`
    has signalled it (killed where it has not stopped a minute later)."""
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--threads", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        lines = []
        for line in worker.stdout:
            lines.append(line)
            if "SIGTERM to stop" in line:
                break
    finally:
        stop(worker)
        try:
            rest, _ = worker.communicate(timeout=60)
        finally:
            worker.kill()  # nothing where it stopped
    return "".join(lines) + rest


@pytest.mark.parametrize("embedded_workers", ["0", None])
def test_a_worker_process_without_the_model_weights_warns_once_at_start(
    tmp_path: Any, migrated_data_dir: Path, embedded_workers: str | None
) -> None:
    """removal.W001 is for the processes that run the models: a web process without worker threads runs none, so the
    system checks say it only where EMBEDDED_WORKERS is above 0, and `runworker` asks for itself when it is 0 (the
    scaled layout's workers share the web's environment); once, whatever the setting."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "bgsite.settings"}
    env.pop("EMBEDDED_WORKERS", None)
    if embedded_workers is not None:
        env["EMBEDDED_WORKERS"] = embedded_workers
    env["U2NET_HOME"] = str(tmp_path / "no-weights")
    shutil.copytree(migrated_data_dir, tmp_path, dirs_exist_ok=True)
    output = worker_start_output(env)
    assert output.count("removal.W001") == 1, output
