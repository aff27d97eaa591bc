"""The models a request may name (removal.ops.models_run_on.models_installed)."""

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from removal import services
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db

CPU = ["CPUExecutionProvider"]


def upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_bytes("coffee.png", size=(64, 48)), content_type="image/jpeg")


def test_a_web_process_without_worker_threads_takes_the_models_its_workers_have_not_its_own_disks(
    api: Any, settings: Any, tmp_path: Path
) -> None:
    """Its own U2NET_HOME, empty in a web image without weights (only the workers run the models), made every upload
    a 400 ("'u2netp-int8' is not installed; installed: none"). It takes the models every worker process seen has (any
    may be handed the job); while none is seen, the default model, whose jobs wait for a worker."""
    settings.EMBEDDED_WORKERS, settings.U2NET_HOME = 0, tmp_path
    assert api.get("/api/v1/models").json()["models"] == ["u2netp-int8"]
    waits = api.post("/api/v1/batches", {"files": [upload("p.jpg")]})
    assert waits.status_code == 201, waits.content

    everything = ["isnet-general-use", "u2netp", "u2netp-int8"]
    services.worker_process_seen(name="w1", threads=2, providers=CPU, layout="shared", max_batch=1, models=everything)
    services.worker_process_seen(
        name="w2", threads=2, providers=CPU, layout="shared", max_batch=1, models=everything[1:]
    )
    assert api.get("/api/v1/models").json()["models"] == ["u2netp", "u2netp-int8"]
    taken = api.post("/api/v1/batches", {"files": [upload("p.jpg")], "model": "u2netp"})
    assert taken.status_code == 201, taken.content
    refused = api.post("/api/v1/batches", {"files": [upload("p.jpg")], "model": "isnet-general-use"})
    assert refused.status_code == 400
    assert "'isnet-general-use' is not installed; installed: u2netp, u2netp-int8" in refused.content.decode()


def test_a_process_with_worker_threads_takes_the_models_on_its_own_disk(api: Any, settings: Any) -> None:
    """As `make run` always has: the worker processes' records are not its own threads'."""
    services.worker_process_seen(name="w1", threads=2, providers=CPU, layout="shared", max_batch=1, models=["other"])
    assert "u2netp-int8" in api.get("/api/v1/models").json()["models"]
    assert api.post("/api/v1/batches", {"files": [upload("p.jpg")], "model": "other"}).status_code == 400
