"""`make bench-gpu`: bgsite on a machine with an NVIDIA GPU (onnxruntime-gpu, requirements-gpu.txt) against the same
machine's CPU cores and rembg's library on the same GPU, in one run; writes bench/results/gpu.json.

Phases: each stage of one cutout, per model (bench.inprocess stages); the in-process ceiling with a session per
thread and with one shared session that batches; rembg's `remove`, one session for the same threads; bgsite's
server as `make run` starts it, on the GPU and then on the CPU cores (per-thread, int8): /bgremove at 1 and 8
clients, then a bulk batch at 1280x960 and at 12 MP. rembg's `p` and `s` commands are not run: their venv
(rembg[cli] pulls gradio) needs the network, which the GPU machine this was measured on did not have.
"""

import json
import os
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from shutil import which
from typing import Any

from bench import bgsite, images
from bench.common import REPO, RESULTS, json_of, log, machine, phase, run_requests, summary, unique_jpeg
from tests.conftest import LiveServer

CUDA = "CUDAExecutionProvider"
MODELS = ("u2netp", "u2netp-int8")  # the bundled fp32 file and its int8 copy
THREADS = 8  # worker threads feeding the GPU
SERVERS = {
    "gpu": {"ORT_PROVIDERS": "auto", "REMBG_MODEL": "u2netp", "EMBEDDED_WORKERS": str(THREADS)},
    "cpu": {"ORT_PROVIDERS": "cpu", "REMBG_MODEL": "u2netp-int8", "EMBEDDED_WORKERS": str(os.cpu_count() or 2)},
}


def gpu() -> dict[str, Any]:
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        raise SystemExit("this onnxruntime has no CUDA: install requirements-gpu.txt (see its first lines)")
    query = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    name = subprocess.run(query, capture_output=True, text=True, check=False).stdout.strip() if which(query[0]) else ""
    return {"gpu": name, "onnxruntime": ort.__version__}


def model_phases(image_set: images.ImageSet) -> dict[str, Any]:
    bulk, figures = [str(path) for path in image_set.bulk], {}
    stages = {"1280x960": (image_set.bulk[0], "5"), "4000x3000": (image_set.large, "3")}
    layouts = [("1",), (str(THREADS),), (str(THREADS), "--shared")]
    for model in MODELS:
        figures[model] = {
            f"stages_{size}": json_of("bench.inprocess", "stages", str(path), repeats, REMBG_MODEL=model)
            for size, (path, repeats) in stages.items()
        }
        ceiling = partial(json_of, "bench.inprocess", "ceiling")
        figures[model]["ceiling"] = [ceiling(n, "1", model, *shared, *bulk) for n, *shared in layouts]
        log(f"{model}: {json.dumps(figures[model])}")
    return figures


def rembg_library(threads: int, paths: list[Path]) -> dict[str, Any]:
    """rembg's `remove` on u2netp, one session on the GPU for `threads` callers (run in its own process)."""
    from rembg import new_session, remove

    session = new_session("u2netp", providers=[CUDA, "CPUExecutionProvider"])
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
        warm = [unique_jpeg(photo, "warm") for photo in photos[:THREADS]]  # each worker thread's first cutout
        run_requests(partial(bgsite.bgremove, server, keys["warm"]), warm, concurrency=THREADS)
        for mix, clients, count in (("c1", 1, 20), ("c8", 8, 48)):
            send = partial(bgsite.bgremove, server, keys[mix])
            sent = [unique_jpeg(photos[i % len(photos)], f"{name}-{mix}-{i}") for i in range(count)]
            figures[mix] = summary([run_requests(send, sent, concurrency=clients)])
        for batch, paths in (("bulk", image_set.bulk), ("bulk_12mp", image_set.phone)):
            files = [(path.name, unique_jpeg(path.read_bytes(), f"{name}-{batch}")) for path in paths]
            figures[batch] = bgsite.bulk(server, keys[batch], files)
    finally:
        server.stop()
    log(f"server on the {name}: {json.dumps(figures)}")
    return figures


def main() -> int:
    results: dict[str, Any] = {"machine": machine() | gpu(), "errors": {}}
    image_set = images.build(REPO / "bench" / "images", count=50, phones=6)
    results["images"] = image_set.source
    log(json.dumps(results["machine"]))
    bulk = list(map(str, image_set.bulk))
    phases = {
        "models": lambda: model_phases(image_set),
        "rembg_library": lambda: [json_of("bench.gpu", "rembg", str(n), *bulk) for n in (1, THREADS)],
        "servers": lambda: {name: server_run(name, env, image_set) for name, env in SERVERS.items()},
    }
    for name, function in phases.items():
        results[name] = phase(results, name, function)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gpu.json").write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {RESULTS / 'gpu.json'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["rembg"]:
        print(json.dumps(rembg_library(int(sys.argv[2]), [Path(p) for p in sys.argv[3:]])))
        sys.exit(0)
    sys.exit(main())
