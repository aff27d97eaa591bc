"""ORT_PROVIDERS and ORT_LAYOUT: which ONNX Runtime providers run the models and how threads share sessions,
and that /readyz and /api/v1/models say so."""

import logging
import sys
from typing import Any

import pytest
from django.conf import settings

from removal.cutout import pipeline, providers

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
    with caplog.at_level(logging.INFO, logger="removal.cutout.providers"):
        assert providers.active() == [CPU]
    assert "no CUDA in this onnxruntime" in caplog.text and "models run on the CPU" in caplog.text


@pytest.mark.django_db
def test_readyz_and_models_say_which_provider_runs(client: Any, fresh_choice: Any) -> None:
    models, model_check = client.get("/api/v1/models").json(), client.get("/readyz").json()["checks"]["model"]
    for reply in (models, model_check):
        assert (reply["providers"], reply["layout"], reply["max_batch"]) == ([CPU], "per-thread", 1)


def test_auto_layout_shares_one_session_when_a_gpu_runs_the_models() -> None:
    assert providers.choose_layout("auto", [CPU]) == providers.PER_THREAD
    assert providers.choose_layout("auto", [CUDA, CPU]) == providers.SHARED
    assert providers.choose_layout("auto", ["TensorrtExecutionProvider", CUDA, CPU]) == providers.SHARED
    assert providers.choose_layout("shared", [CPU]) == providers.SHARED
    assert providers.choose_layout("per-thread", [CUDA, CPU]) == providers.PER_THREAD


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"layout": "gpu"}, "ORT_LAYOUT='gpu' is not a layout: use auto, per-thread, shared"),
        ({"max_batch": 0}, "ORT_MAX_BATCH=0 must be 1 or more"),
        ({"batch_wait_ms": -1}, "ORT_BATCH_WAIT_MS=-1 must be 0 or more"),
        ({"switch_interval_ms": 0}, "GIL_SWITCH_INTERVAL_MS=0 must be more than 0"),
    ],
)
def test_a_layout_setting_out_of_range_is_refused(setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        providers.configure(["auto"], **setting)


def test_the_layout_is_logged_once(fresh_choice: Any, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="removal.cutout.providers"):
        assert providers.layout() == providers.Layout(providers.PER_THREAD)
        assert providers.layout() == providers.Layout(providers.PER_THREAD)
    assert caplog.text.count("model sessions: per-thread, one per worker thread (ORT_LAYOUT=auto)") == 1


@pytest.mark.django_db
def test_readyz_and_models_say_the_shared_layout_and_its_batch(client: Any) -> None:
    providers.configure(["auto"], layout="shared", max_batch=6)
    try:
        models, model_check = client.get("/api/v1/models").json(), client.get("/readyz").json()["checks"]["model"]
    finally:
        providers.configure(["auto"])
    for reply in (models, model_check):
        assert (reply["providers"], reply["layout"], reply["max_batch"]) == ([CPU], "shared", 6)


def test_the_shared_layout_runs_one_image_at_a_time_unless_told(fresh_choice: Any) -> None:
    # On CUDA every new batch size makes cuDNN choose its convolutions again (docs/benchmarks.md#on-a-gpu).
    providers.configure(["auto"], layout="shared")
    assert providers.layout() == providers.Layout(
        providers.SHARED, max_batch=1, batch_wait_ms=5.0, switch_interval_ms=1
    )


@pytest.mark.parametrize(
    ("layout", "configured", "expected"),
    [("per-thread", None, None), ("shared", None, 1.0), ("per-thread", 2.5, 2.5), ("shared", 2.5, 2.5)],
)
def test_the_gil_switches_sooner_on_the_shared_layout_unless_told(
    fresh_choice: Any, layout: str, configured: float | None, expected: float | None
) -> None:
    # On a GPU the worker threads take the GIL back after every few-ms model run (docs/benchmarks.md#on-a-gpu);
    # on CPU cores Python's own interval (None: left as it is) did better.
    providers.configure(["auto"], layout=layout, switch_interval_ms=configured)
    assert providers.layout().switch_interval_ms == expected


def test_cuda_picks_its_convolutions_by_heuristic() -> None:
    assert providers.with_options([CUDA, CPU]) == [(CUDA, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU]
    assert providers.with_options([CPU]) == [CPU]


class OnnxruntimeGpu:
    """What providers.active() reads of onnxruntime-gpu on a machine with a GPU, which the test machines lack."""

    def __init__(self) -> None:
        self.preloaded = 0

    def get_available_providers(self) -> list[str]:
        return [CUDA, CPU]

    def preload_dlls(self) -> None:
        self.preloaded += 1


def test_cuda_libraries_are_loaded_once_before_the_first_cuda_session(fresh_choice: Any, monkeypatch: Any) -> None:
    gpu_wheel = OnnxruntimeGpu()
    monkeypatch.setitem(sys.modules, "onnxruntime", gpu_wheel)
    assert providers.active() == [CUDA, CPU] and providers.active() == [CUDA, CPU]
    assert gpu_wheel.preloaded == 1
    providers.configure(["cpu"])
    assert providers.active() == [CPU] and gpu_wheel.preloaded == 1


def test_a_session_that_fell_back_to_the_cpu_is_reported_as_the_cpu(
    fresh_choice: Any, monkeypatch: Any, caplog: Any
) -> None:
    # onnxruntime-gpu lists CUDA where its libraries are missing, then runs the session on the CPU.
    monkeypatch.setitem(sys.modules, "onnxruntime", OnnxruntimeGpu())
    assert providers.active() == [CUDA, CPU]
    providers.ran_on([CUDA, CPU])
    assert providers.active() == [CUDA, CPU] and "could not start it" not in caplog.text
    with caplog.at_level(logging.ERROR, logger="removal.cutout.providers"):
        providers.ran_on([CPU])
        providers.ran_on([CPU])
    assert providers.active() == [CPU]
    assert caplog.text.count("ORT_PROVIDERS asked for CUDAExecutionProvider, but onnxruntime could not start it") == 1


def test_a_session_on_the_cpu_says_nothing_when_the_cpu_was_asked_for(fresh_choice: Any, caplog: Any) -> None:
    session = pipeline.create_session("u2netp-int8", settings.U2NET_HOME)
    assert session.inner_session.get_providers() == [CPU] == providers.active()
    assert "could not start it" not in caplog.text
