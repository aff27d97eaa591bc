"""/healthz and /readyz."""

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


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
