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


def test_readyz_is_503_when_the_model_is_missing(client: Any, settings: Any, tmp_path: Path) -> None:
    settings.U2NET_HOME = tmp_path
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json()["status"] == "unavailable"
    model = reply.json()["checks"]["model"]
    assert model["ok"] is False and "u2netp-int8.onnx is missing" in model["error"]
    assert reply.json()["checks"]["database"]["ok"] is True
