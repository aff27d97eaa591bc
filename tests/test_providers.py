"""ORT_PROVIDERS: which ONNX Runtime providers run the models, and that /readyz and /api/v1/models say so."""

import logging
from typing import Any

import pytest

from removal import providers

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def test_auto_takes_cuda_first_when_onnxruntime_has_it() -> None:
    assert providers.resolve(["auto"], [CUDA, CPU]) == [CUDA, CPU]
    assert providers.resolve(["auto"], ["AzureExecutionProvider", CPU]) == [CPU]


def test_an_explicit_list_is_used_as_given() -> None:
    assert providers.resolve(["cpu"], [CUDA, CPU]) == [CPU]
    assert providers.resolve(["cuda", "CPUExecutionProvider"], [CUDA, CPU]) == [CUDA, CPU]
    with pytest.raises(providers.ProvidersUnavailable, match="names CUDAExecutionProvider"):
        providers.resolve(["cuda", "cpu"], [CPU])


@pytest.fixture
def fresh_choice() -> Any:
    providers.configure(["auto"])
    yield
    providers.configure(["auto"])


def test_auto_falls_back_to_the_cpu_here_and_logs_it(fresh_choice: Any, caplog: Any) -> None:
    # No GPU on the machines these tests run on: the plain onnxruntime wheel has no CUDA provider.
    with caplog.at_level(logging.INFO, logger="removal.providers"):
        assert providers.active() == [CPU]
    assert "no CUDA in this onnxruntime" in caplog.text and "models run on the CPU" in caplog.text


@pytest.mark.django_db
def test_readyz_and_models_say_which_provider_runs(client: Any, fresh_choice: Any) -> None:
    assert client.get("/api/v1/models").json()["providers"] == [CPU]
    assert client.get("/readyz").json()["checks"]["model"]["providers"] == [CPU]
