"""Which ONNX Runtime execution providers run the models (ORT_PROVIDERS), chosen once per process.

`auto` takes CUDA, then the CPU, as this onnxruntime reports them available
(onnxruntime-gpu, from requirements-gpu.txt, has CUDA; the plain wheel has
only the CPU), and logs when it falls back to the CPU. An explicit list is
used as given and must name only available providers. No Django here.
"""

import logging
import threading

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
AUTO_ORDER = ("CUDAExecutionProvider", CPU)
SHORT_NAMES = {"cuda": "CUDAExecutionProvider", "cpu": CPU, "tensorrt": "TensorrtExecutionProvider"}

_wanted: list[str] = ["auto"]
_chosen: list[str] | None = None
_lock = threading.Lock()


class ProvidersUnavailable(ValueError):
    pass


def configure(wanted: list[str]) -> None:
    """Set what ORT_PROVIDERS asks for; resolved when the first session is made."""
    global _wanted, _chosen
    with _lock:
        _wanted, _chosen = list(wanted) or ["auto"], None


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
        return list(_chosen)
