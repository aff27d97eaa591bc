"""/healthz and /readyz."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO, require_or_skip

pytestmark = pytest.mark.django_db


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["POST", "PUT", "TRACE"])
def test_another_method_is_a_405_in_the_probes_json(path: str, method: str) -> None:
    """A PUT or POST got the CSRF check's HTML page for a form, and a TRACE the probe's answer, a 200."""
    from django.test import Client

    reply = Client(enforce_csrf_checks=True).generic(method, path)
    assert (reply.status_code, reply["Allow"]) == (405, "GET, HEAD")
    assert reply.json()["error"] == f"{method} is not allowed here; use GET or HEAD"


def test_readyz_reports_each_dependency(client: Any) -> None:
    reply = client.get("/readyz")
    assert reply.status_code == 200
    checks = reply.json()["checks"]
    assert set(checks) == {"database", "channel_layer", "storage", "model"}
    assert all(check["ok"] for check in checks.values())
    assert checks["channel_layer"]["backend"] == "InMemoryChannelLayer"
    assert checks["storage"]["backend"] == "FileSystemStorage"
    assert checks["model"]["name"] == "u2netp-int8"


def test_readyz_is_503_when_the_model_is_missing_and_says_why_only_to_a_metrics_scraper(
    client: Any, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason names a path (a database's host and user, a bucket, where they fail): shown in full to a caller
    that may read /metrics, its kind to anyone else, and logged."""
    settings.U2NET_HOME, settings.METRICS_TOKEN = tmp_path, "scraper-token"
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json()["status"] == "unavailable"
    model = reply.json()["checks"]["model"]
    assert model == {"ok": False, "error": "FileNotFoundError (the reason is in the server's log)"}
    assert str(tmp_path) in caplog.text and "u2netp-int8.onnx is missing" in caplog.text
    assert reply.json()["checks"]["database"]["ok"] is True
    scraper = client.get("/readyz", headers={"Authorization": "Bearer scraper-token"})
    assert scraper.status_code == 503
    assert f"{tmp_path}/u2netp-int8.onnx is missing" in scraper.json()["checks"]["model"]["error"]


def test_readyz_is_503_when_the_disk_has_no_room_for_an_upload(
    client: Any, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk refuses every upload (503 storage is unavailable) while SELECT 1 and exists() still answer: the
    embedded server's /readyz was 200 throughout the audit's disk-full run. Its media folder's disk, here the test's
    own, with less free room than one upload (the limit raised past it)."""
    assert client.get("/readyz").json()["checks"]["storage"]["free_mb"] > 0
    settings.MEDIA_ROOT = tmp_path / "media"  # not made yet, as on a fresh install: its disk is its parent's
    settings.MAX_UPLOAD_BYTES = 10**18
    reply = client.get("/readyz")
    assert reply.status_code == 503
    storage = reply.json()["checks"]["storage"]
    assert storage == {"ok": False, "error": "DiskNearlyFull (the reason is in the server's log)"}
    assert f"free on the disk of {tmp_path}/media, less than one upload" in caplog.text


def made_read_only(path: Path) -> Callable[[], None]:
    """`path` made unwritable to this process (its mode, or, for root, which ignores it, the immutable attribute):
    the call that makes it writable again."""
    path.chmod(0o444)
    if not os.access(path, os.W_OK):
        return lambda: path.chmod(0o644)
    path.chmod(0o644)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", path], check=False).returncode:
        require_or_skip("root, and no chattr +i on this file system")

    def mutable_again() -> None:
        subprocess.run(["chattr", "-i", path], check=True)

    return mutable_again


@pytest.mark.live
def test_readyz_is_503_while_sqlite_takes_no_write(server_factory: Any) -> None:
    """A database file made read-only answered SELECT 1, and /readyz said ready while every upload, log-in and job
    failed to write."""
    server = server_factory(EMBEDDED_WORKERS="0")
    server.start()
    assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200
    writable_again = made_read_only(server.data_dir / "db.sqlite3")
    try:
        reply = requests.get(f"{server.url}/readyz", timeout=30)
    finally:
        writable_again()
    assert reply.status_code == 503 and not reply.json()["checks"]["database"]["ok"]
    assert "attempt to write a readonly database" in server.log()
    assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200
    server.stop()


@pytest.mark.live
def test_readyz_is_503_while_postgresql_takes_no_write(
    server_factory: Any, postgres_url: str, postgres_admin: Any
) -> None:
    """A standby, or a database set read-only (default_transaction_read_only), as after a failover that left the
    site on the replica: SELECT 1 answered."""
    database = postgres_url.rsplit("/", 1)[1]
    server = server_factory(DATABASE_URL=postgres_url, EMBEDDED_WORKERS="0")
    server.start()
    assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200
    postgres_admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    try:
        reply = requests.get(f"{server.url}/readyz", timeout=30)  # a new connection: each request has its own
    finally:
        postgres_admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
    assert reply.status_code == 503 and not reply.json()["checks"]["database"]["ok"]
    assert "cannot execute UPDATE in a read-only transaction" in server.log()
    assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200
    server.stop()


@pytest.mark.live
def test_a_web_process_without_worker_threads_is_ready_without_model_weights_and_says_no_worker_reported(
    server_factory: Any, tmp_path: Path
) -> None:
    """Only the worker processes run the models in the scaled layout, so a web image may hold no weights: its /readyz
    checked its own U2NET_HOME and was 503, taking it out of the load balancer, and `manage.py check` warned
    (removal.W001). It says instead that no worker process has reported, and is ready: uploads queue for them."""
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    web = server_factory(EMBEDDED_WORKERS="0", U2NET_HOME=str(no_weights))
    web.start()
    reply = requests.get(f"{web.url}/readyz", timeout=30)
    assert reply.status_code == 200, reply.text
    model = reply.json()["checks"]["model"]
    assert model["ok"] is True and model["workers"] == [] and model["workers_in_this_process"] == 0
    web.stop()
    assert "removal.W001" not in system_checks_said(web.env)
    assert "removal.W001" in system_checks_said({**web.env, "EMBEDDED_WORKERS": "2"})  # `make run` runs the models


def system_checks_said(env: dict[str, str]) -> str:
    """What `manage.py check` writes with `env`, both streams (its warnings go to stderr)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout + done.stderr
