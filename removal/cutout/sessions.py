"""Model sessions: created once per thread and reused, or, on the shared layout (ORT_LAYOUT), once per process.

All sessions of a process allocate from one ONNX Runtime arena. U²-Net models run on
onnxruntime directly (u2net.py); the other models through rembg.
"""

import os
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from removal.cutout import cores, providers, u2net
from removal.cutout.installed import model_weights
from removal.cutout.results import ModelNotInstalled

_sessions = threading.local()


_making_sessions = threading.RLock()  # the solo session makes the arena: nested


_solo_sessions: dict[str, Any] = {}


_shared_sessions: dict[str, Any] = {}


_env_arena_registered = False


class ModelSessions:
    """How one worker thread runs a model: on its own single-threaded session, or alone on every core.

    Two images processed side by side run fastest each on its own single-threaded
    session (measured in docs/benchmarks.md). An image that is the only one in
    progress in this process instead runs on the process's solo session of
    `solo_threads` intra-op threads, so a lone /bgremove call uses every core as
    `rembg s` does; not while a synchronous call admitted in this process awaits a cutout
    of its own (cores.expected). All sessions allocate from one process-wide arena, so the
    solo session holds no memory of its own.
    """

    def __init__(self, model_name: str, model_dir: Path, *, solo_threads: int) -> None:
        self.single = create_session(model_name, model_dir)
        self.solo = _solo_session(model_name, model_dir, solo_threads) if solo_threads > 1 else None

    def predict(self, image: Image.Image, **options: Any) -> Any:
        if self.solo is not None and cores.expected() <= 1:
            return self.solo.predict(image, **options)
        return self.single.predict(image, **options)


def model_session(model_name: str, model_dir: Path, *, solo_threads: int = 1) -> Any:
    """What the calling worker thread runs `model_name` on, in this process's layout (providers.layout()):
    the process's one session of it (shared), or the thread's own sessions (per-thread)."""
    layout = providers.layout()
    if layout.name == providers.SHARED:
        return shared_session(
            model_name,
            model_dir,
            threads=solo_threads,
            max_batch=layout.max_batch,
            batch_wait_seconds=layout.batch_wait_ms / 1000,
        )
    return thread_session(model_name, model_dir, solo_threads=solo_threads)


def shared_session(model_name: str, model_dir: Path, *, threads: int, max_batch: int, batch_wait_seconds: float) -> Any:
    """The process's one session for `model_name`, which every worker thread runs (the shared layout).

    It has `threads` intra-op threads: on the CPU, each run (often a batch) uses every core.
    """
    with _making_sessions:
        if model_name not in _shared_sessions:
            _shared_sessions[model_name] = create_session(
                model_name, model_dir, threads=threads, max_batch=max_batch, batch_wait_seconds=batch_wait_seconds
            )
        return _shared_sessions[model_name]


def thread_session(model_name: str, model_dir: Path, *, solo_threads: int = 1) -> ModelSessions:
    """The calling thread's sessions for `model_name`, created on first use (the per-thread layout)."""
    sessions: dict[str, ModelSessions] = _sessions.__dict__.setdefault("by_model", {})
    if model_name not in sessions:
        sessions[model_name] = ModelSessions(model_name, model_dir, solo_threads=solo_threads)
    return sessions[model_name]


def best_partner(quality: str, model_name: str, partner_name: str, model_dir: Path) -> Any:
    """The calling thread's session for the second model that `quality=best` averages in: `partner_name`,
    when it is installed and is not the model itself (the operator's QUALITY_BEST_PARTNER)."""
    if quality != "best" or not partner_name or partner_name == model_name:
        return None
    if model_weights(model_dir, partner_name) is None:
        return None
    return model_session(partner_name, model_dir)


def _solo_session(model_name: str, model_dir: Path, threads: int) -> Any:
    with _making_sessions:
        if model_name not in _solo_sessions:
            _solo_sessions[model_name] = create_session(model_name, model_dir, threads=threads)
        return _solo_sessions[model_name]


def _register_env_arena(ort: Any) -> None:
    """One CPU arena for every session of the process, grown only by what a run asks for.

    Each session's own arena would keep its largest run's activations for
    good; shared, the arena holds what the runs in progress at one time need.
    """
    global _env_arena_registered
    with _making_sessions:
        if not _env_arena_registered:
            memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(memory, ort.OrtArenaCfg({"arena_extend_strategy": 1}))  # kSameAsRequested
            _env_arena_registered = True


def create_session(
    model_name: str, model_dir: Path, *, threads: int = 1, max_batch: int = 1, batch_wait_seconds: float = 0.0
) -> Any:
    """A session of `model_name` with `threads` intra-op threads; U²-Net models run up to `max_batch`
    concurrent callers' images in one batch when their graph allows (removal.cutout.u2net.open_session)."""
    weights = model_weights(model_dir, model_name)
    if weights is None:
        # rembg would try to download the weights; we never fetch at run time.
        raise ModelNotInstalled(
            f"model weights for {model_name!r} not found in {model_dir}; run `make setup` to install them"
        )
    options = _session_options(threads)
    if model_name in u2net.U2NET_MODELS:
        # rembg's prediction without importing rembg; cuDNN's heuristic search for the batches' shapes
        run_on = providers.with_options(providers.active())
        session = u2net.open_session(
            weights, options, run_on, max_batch=max_batch, batch_wait_seconds=batch_wait_seconds
        )
    else:
        from rembg import new_session

        # rembg finds weights only through $U2NET_HOME (and downloads them when they
        # are not there); point it at ours so it never goes to the network.
        os.environ["U2NET_HOME"] = str(model_dir)
        session = new_session(model_name, sess_opts=options, providers=providers.active())  # names: rembg joins them
    providers.ran_on(session.inner_session.get_providers())
    return session


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    _register_env_arena(ort)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.use_env_allocators", "1")
    if threads > 1:
        # Its threads sleep between runs instead of spinning on cores the single-threaded sessions need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
