"""`make bench-gpu`: bgsite on a machine with an NVIDIA GPU (onnxruntime-gpu, requirements-gpu.txt) against the same
machine's CPU cores and rembg's library on the same GPU, in one run; writes bench/results/gpu.json.

For each model (`python -m bench.gpu MODEL...`; by default u2netp, and u2net where it is installed), its fp32 file
on the GPU and its int8 copy on the CPU cores, as a server would run them: each stage of one cutout (bench.inprocess
stages); the in-process ceiling, on the GPU with a session per thread and with the server's layout there (one shared
session), on the CPU with a session per core; rembg's `remove` on the GPU, one session for 1 and 8 threads; bgsite's
server as `make run` starts it: /bgremove at 1 and 8 clients, then a bulk batch at 1280x960 and at 12 MP. rembg's
`p` and `s` commands are not run: their venv (rembg[cli] pulls gradio) needs the network, which the GPU machine this
was measured on did not have.
"""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from shutil import which
from typing import Any

from bench import bgsite, images
from bench.common import MODEL_DIR, REPO, RESULTS, json_of, log, machine, phase, run_requests, summary, unique_jpeg
from removal.cutout.installed import model_weights
from tests.conftest import LiveServer

CUDA = "CUDAExecutionProvider"
THREADS = 8  # worker threads feeding the GPU


@dataclass(frozen=True)
class Side:
    """Where a model runs: its file (fp32 or the int8 copy), the providers, and the worker threads of a process."""

    providers: str
    suffix: str
    threads: int
    shared: bool  # the server shares one session between its threads here (ORT_LAYOUT=auto on a GPU)

    def env(self, model: str) -> dict[str, str]:
        model_file = model + self.suffix
        return {"ORT_PROVIDERS": self.providers, "REMBG_MODEL": model_file, "EMBEDDED_WORKERS": str(self.threads)}


SIDES = {"gpu": Side("auto", "", THREADS, shared=True), "cpu": Side("cpu", "-int8", os.cpu_count() or 2, shared=False)}


def gpu() -> dict[str, Any]:
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        raise SystemExit("this onnxruntime has no CUDA: install requirements-gpu.txt (see its first lines)")
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    name = subprocess.run(query, capture_output=True, text=True, check=False).stdout.strip() if which(query[0]) else ""
    return {"gpu": name, "onnxruntime": ort.__version__}


def model_phases(model: str, side: Side, image_set: images.ImageSet) -> dict[str, Any]:
    bulk, env = [str(path) for path in image_set.bulk], side.env(model)
    stages = {"1280x960": (image_set.bulk[0], "5"), "4000x3000": (image_set.large, "3")}
    figures = {
        f"stages_{size}": json_of("bench.inprocess", "stages", str(path), repeats, **env)
        for size, (path, repeats) in stages.items()
    }
    layouts = [("1",), (str(side.threads),)] + [(str(side.threads), "--shared")] * side.shared
    ceiling = partial(json_of, "bench.inprocess", "ceiling", **env)
    figures["ceiling"] = [ceiling(n, "1", env["REMBG_MODEL"], *shared, *bulk) for n, *shared in layouts]
    log(f"{env['REMBG_MODEL']}: {json.dumps(figures)}")
    return figures


def rembg_library(model: str, threads: int, paths: list[Path]) -> dict[str, Any]:
    """rembg's `remove`, one session on the GPU for `threads` callers (run in its own process)."""
    from rembg import new_session, remove

    session = new_session(model, providers=[CUDA, "CPUExecutionProvider"])
    photos = [path.read_bytes() for path in paths]
    remove(photos[0], session=session)  # the first run allocates
    cut_out = lambda _, photo: remove(photo, session=session)  # noqa: E731
    run = run_requests(cut_out, photos, concurrency=threads, open_client=nullcontext)
    return {"threads": threads, "providers": session.inner_session.get_providers(), **summary([run])}


def server_run(name: str, env: dict[str, str], image_set: images.ImageSet) -> dict[str, Any]:
    """bgsite's server with `env`: /bgremove at 1 and 8 clients, then the bulk batches."""
    photos, figures = [path.read_bytes() for path in image_set.bulk], dict[str, Any](env=env)
    server = LiveServer(data_dir=Path(tempfile.mkdtemp(prefix=f"bench-{name}-")), env_overrides=env)
    keys = bgsite.create_keys(server, ["warm", "c1", "c8", "bulk", "bulk_12mp"])
    server.start()
    try:
        workers = int(env["EMBEDDED_WORKERS"])
        warm = [unique_jpeg(photo, "warm") for photo in photos[:workers]]  # each worker thread's first cutout
        run_requests(partial(bgsite.bgremove, server, keys["warm"]), warm, concurrency=workers)
        for mix, clients, count in (("c1", 1, 20), ("c8", 8, 48)):
            send = partial(bgsite.bgremove, server, keys[mix])
            sent = [unique_jpeg(photos[i % len(photos)], f"{name}-{mix}-{i}") for i in range(count)]
            figures[mix] = summary([run_requests(send, sent, concurrency=clients)])
        for batch, paths in (("bulk", image_set.bulk), ("bulk_12mp", image_set.phone)):
            files = [(path.name, unique_jpeg(path.read_bytes(), f"{name}-{batch}")) for path in paths]
            figures[batch] = bgsite.bulk(server, keys[batch], files)
    finally:
        server.stop()
    log(f"server {name}: {json.dumps(figures)}")
    return figures


def model_run(results: dict[str, Any], model: str, image_set: images.ImageSet) -> dict[str, Any]:
    bulk = list(map(str, image_set.bulk))
    phases: dict[str, Callable[[], Any]] = {
        f"{side}_inprocess": partial(model_phases, model, SIDES[side], image_set) for side in SIDES
    }
    rembg = partial(json_of, "bench.gpu", "rembg", model, U2NET_HOME=str(MODEL_DIR))  # where rembg finds its files
    phases["rembg_library"] = lambda: [rembg(str(n), *bulk) for n in (1, THREADS)]
    phases |= {f"{side}_server": partial(server_run, side, SIDES[side].env(model), image_set) for side in SIDES}
    return {name: phase(results, f"{model}.{name}", function) for name, function in phases.items()}


def main(models: list[str]) -> int:
    results: dict[str, Any] = {"machine": machine() | gpu(), "errors": {}, "models": {}}
    image_set = images.build(REPO / "bench" / "images", count=50, phones=6)
    results["images"] = image_set.source
    log(json.dumps(results["machine"]))
    RESULTS.mkdir(exist_ok=True)
    for model in models:
        results["models"][model] = model_run(results, model, image_set)
        (RESULTS / "gpu.json").write_text(json.dumps(results, indent=1) + "\n")  # each model's figures as they come
        log(f"wrote {RESULTS / 'gpu.json'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["rembg"]:
        model, threads, *paths = sys.argv[2:]
        print(json.dumps(rembg_library(model, int(threads), [Path(p) for p in paths])))
        sys.exit(0)
    sys.exit(main(sys.argv[1:] or [m for m in ("u2netp", "u2net") if model_weights(MODEL_DIR, m)]))
