"""Which ONNX Runtime execution providers run the models (ORT_PROVIDERS), and how the worker threads
share sessions (ORT_LAYOUT), both chosen once per process.

`auto` takes CUDA, then the CPU, as this onnxruntime reports them available
(onnxruntime-gpu, from requirements-gpu.txt, has CUDA; the plain wheel has
only the CPU), and logs when it falls back to the CPU. An explicit list is
used as given and must name only available providers.

The layout: `per-thread` gives each worker thread its own single-threaded
session (the fastest on CPU cores); `shared` gives the process one session per
model, which every worker thread runs (one copy of the weights on one device,
which the threads would otherwise contend for), in batches of up to
ORT_MAX_BATCH images where the model allows (1 by default: on CUDA a change
of batch size costs a new choice of convolutions). `auto` shares when the first
provider is not the CPU. On CUDA, cuDNN picks the U²-Net sessions' convolutions by heuristic
(CUDA_OPTIONS) and onnxruntime-gpu's CUDA libraries are loaded first. No Django here.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
AUTO_ORDER = ("CUDAExecutionProvider", CPU)
SHORT_NAMES = {"cuda": "CUDAExecutionProvider", "cpu": CPU, "tensorrt": "TensorrtExecutionProvider"}

# cuDNN's default (exhaustive) search times every convolution algorithm again at each new input shape, and the
# shared layout's batches bring a new shape with each batch size; its heuristic picks one at once.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}

PER_THREAD, SHARED = "per-thread", "shared"
LAYOUTS = ("auto", PER_THREAD, SHARED)

# The GIL's switch interval for a process of worker threads on the shared layout (a GPU), unless
# GIL_SWITCH_INTERVAL_MS says otherwise. There each model run is a few ms on the device between stages that
# hold the GIL, so a thread asks for it back far more often, and waits up to the interval (Python's is 5 ms)
# behind one that holds it (the web side, the ORM). Measured on H200s with 16 cores, 8 worker threads: 1 ms
# made the server's bulk 14 % faster in one run (27.4 against 23.7 images/s, the interval set from outside) and
# 0-4 % in another (bgsite setting it, within what servers minutes apart differ by); on 2 CPU cores
# (per-thread) it cost 2 %, so that layout keeps Python's own (docs/benchmarks.md#on-a-gpu).
SHARED_SWITCH_INTERVAL_MS = 1.0


@dataclass(frozen=True)
class Layout:
    """How this process's worker threads run the models."""

    name: str  # PER_THREAD or SHARED once resolved; as configured, also "auto"
    max_batch: int = 1  # images per run of a model, at most
    batch_wait_ms: float = 0.0  # how long the first waiting image waits for others
    switch_interval_ms: float | None = None  # the GIL's in a process of worker threads; None: Python's own

    def summary(self) -> dict[str, str | int]:
        """What /readyz and GET /api/v1/models say of it."""
        return {"layout": self.name, "max_batch": self.max_batch}


# What configure() sets when nothing asks otherwise (bgsite/settings.py's ORT_* and GIL_* defaults say the same).
DEFAULT_LAYOUT = Layout("auto", max_batch=1, batch_wait_ms=5.0)

_wanted: list[str] = ["auto"]
_chosen: list[str] | None = None
_wanted_layout = DEFAULT_LAYOUT
_layout: Layout | None = None
_lock = threading.Lock()


class ProvidersUnavailable(ValueError):
    pass


def configure(
    wanted: list[str],
    *,
    layout: str = DEFAULT_LAYOUT.name,
    max_batch: int = DEFAULT_LAYOUT.max_batch,
    batch_wait_ms: float = DEFAULT_LAYOUT.batch_wait_ms,
    switch_interval_ms: float | None = DEFAULT_LAYOUT.switch_interval_ms,
) -> None:
    """Set what ORT_PROVIDERS, ORT_LAYOUT, ORT_MAX_BATCH, ORT_BATCH_WAIT_MS and GIL_SWITCH_INTERVAL_MS ask for;
    resolved when the first session is made. A value out of range is a ValueError here, at start-up."""
    global _wanted, _chosen, _wanted_layout, _layout
    if layout not in LAYOUTS:
        raise ValueError(f"ORT_LAYOUT={layout!r} is not a layout: use {', '.join(LAYOUTS)}")
    if max_batch < 1:
        raise ValueError(f"ORT_MAX_BATCH={max_batch} must be 1 or more")
    if batch_wait_ms < 0:
        raise ValueError(f"ORT_BATCH_WAIT_MS={batch_wait_ms:g} must be 0 or more")
    if switch_interval_ms is not None and switch_interval_ms <= 0:
        raise ValueError(f"GIL_SWITCH_INTERVAL_MS={switch_interval_ms:g} must be more than 0")
    with _lock:
        _wanted, _chosen = list(wanted) or ["auto"], None
        _wanted_layout, _layout = Layout(layout, max_batch, batch_wait_ms, switch_interval_ms), None


def resolve(wanted: list[str], available: list[str]) -> list[str]:
    """The providers to pass to onnxruntime for `wanted` (ORT_PROVIDERS) given what it has."""
    if [name.lower() for name in wanted] in ([], ["auto"]):
        return [name for name in AUTO_ORDER if name in available] or [CPU]
    names = [SHORT_NAMES.get(name.lower(), name) for name in wanted]
    missing = [name for name in names if name not in available]
    if missing:
        raise ProvidersUnavailable(f"ORT_PROVIDERS names {', '.join(missing)}, but this onnxruntime has {available}")
    return names


def active() -> list[str]:
    """The providers every model session of this process uses."""
    global _chosen
    with _lock:
        if _chosen is None:
            import onnxruntime as ort

            available = list(ort.get_available_providers())
            _chosen = resolve(_wanted, available)
            if _wanted == ["auto"] and AUTO_ORDER[0] not in _chosen:
                logger.info("ORT_PROVIDERS=auto: no CUDA in this onnxruntime (%s); models run on the CPU", available)
            else:
                logger.info("models run on %s", ", ".join(_chosen))
            if AUTO_ORDER[0] in _chosen:
                load_cuda_libraries(ort)
        return list(_chosen)


def ran_on(running: list[str]) -> None:
    """What a new session runs on, as onnxruntime reports it. onnxruntime-gpu lists CUDA even where CUDA's
    libraries or the GPU are missing, and its sessions then run on the CPU instead, 10-20x slower, with only
    its own log to say so: this says it in bgsite's log, once, and /readyz and /api/v1/models then report
    the CPU."""
    global _chosen
    with _lock:
        lost = [name for name in _chosen or [] if name != CPU and name not in running]
        if lost:
            logger.error(
                "ORT_PROVIDERS asked for %s, but onnxruntime could not start it and the models run on %s: its log "
                "above says why (CUDA 13 and cuDNN 9 libraries, see requirements-gpu.txt; a GPU this driver sees)",
                ", ".join(lost),
                ", ".join(running),
            )
            _chosen = list(running)


def with_options(names: list[str]) -> list[str | tuple[str, dict[str, str]]]:
    """`names` as onnxruntime takes them, each provider with the options this process runs it with."""
    return [(name, CUDA_OPTIONS) if name == AUTO_ORDER[0] else name for name in names]


def load_cuda_libraries(ort: Any) -> None:
    """Load CUDA's and cuDNN's libraries before the first CUDA session: onnxruntime-gpu's CUDA provider
    finds them on the library path only, and `pip install onnxruntime-gpu[cuda,cudnn]` puts them in
    site-packages (nvidia/), where onnxruntime's preload_dlls looks first (then the library path)."""
    preload = getattr(ort, "preload_dlls", None)  # onnxruntime-gpu 1.21 and later
    if preload is not None:
        preload()


def choose_layout(wanted: str, active_providers: list[str]) -> str:
    """ORT_LAYOUT's choice: `auto` shares one session when a device other than the CPU runs the models."""
    if wanted != "auto":
        return wanted
    return SHARED if active_providers and active_providers[0] != CPU else PER_THREAD


def layout() -> Layout:
    """How the worker threads of this process run the models; logged once, when first asked."""
    global _layout
    if _layout is not None:  # every cutout asks: once chosen, no lock and no second look at the providers
        return _layout
    wanted = _wanted_layout
    chosen = choose_layout(wanted.name, active())
    with _lock:
        if _layout is None:
            if chosen == SHARED:
                switch_ms = wanted.switch_interval_ms or SHARED_SWITCH_INTERVAL_MS
                _layout = Layout(SHARED, wanted.max_batch, wanted.batch_wait_ms, switch_ms)
                logger.info(
                    "model sessions: shared, one per model for all worker threads, up to %d images per run "
                    "(ORT_LAYOUT=%s)",
                    _layout.max_batch,
                    wanted.name,
                )
            else:
                _layout = Layout(PER_THREAD, switch_interval_ms=wanted.switch_interval_ms)
                logger.info("model sessions: per-thread, one per worker thread (ORT_LAYOUT=%s)", wanted.name)
        return _layout
