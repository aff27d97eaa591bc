"""rembg as its users run it: `rembg p` (a folder) and `rembg s` (its HTTP server), from bench/.venv-rembg.

The venv is made on first use from bench/requirements-rembg.txt; rembg finds the
same offline u2netp weights through U2NET_HOME and any download attempt fails
(the proxy variables point nowhere), so nothing is fetched at run time.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    MODEL_DIR,
    MODEL_MD5,
    OFFLINE_ENV,
    REPO,
    LatencyRun,
    first_result_seconds,
    free_port,
    log,
    peak_rss_mb,
    run_requests,
    stop_process,
)

VENV = REPO / "bench" / ".venv-rembg"
REQUIREMENTS = REPO / "bench" / "requirements-rembg.txt"
PYTHON = VENV / "bin" / "python"
REMBG = VENV / "bin" / "rembg"


def check_model() -> None:
    weights = MODEL_DIR / "u2netp.onnx"
    if not weights.exists():
        raise SystemExit(f"{weights} is missing: run `make setup` first (rembg must never download it)")
    if hashlib.md5(weights.read_bytes(), usedforsecurity=False).hexdigest() != MODEL_MD5:
        raise SystemExit(f"{weights} does not have rembg's u2netp checksum")


def env() -> dict[str, str]:
    return {**os.environ, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1"}


def ensure_venv() -> None:
    """Create/refresh the venv when the requirements changed, then warm numba's cache once."""
    stamp = VENV / ".bench-ready"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted and PYTHON.exists():
        return
    python = subprocess.run(
        [str(REPO / "scripts" / "find-python.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    log(f"creating {VENV.relative_to(REPO)} with {python} (rembg[cli], once)")
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    log("warming numba's cache in the rembg venv (first import of rembg, ~40 s once)")
    subprocess.run([str(PYTHON), "-c", "import rembg.bg"], check=True, env=env())
    stamp.write_text(wanted)


def versions() -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({n: m.version(n) for n in ('rembg', 'onnxruntime', 'pillow', 'numpy', 'gradio')}))"
    )
    import json

    return json.loads(subprocess.run([str(PYTHON), "-c", script], capture_output=True, text=True, check=True).stdout)


# --- rembg p ------------------------------------------------------------------------


def folder_run(images: list[Path], *, processes: int, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """`rembg p -m u2netp IN OUT` over `images`, split evenly across `processes` at once.

    Throughput is taken between each process's first and last output file, so
    the CLI's start-up (imports, session creation) is not counted against it.
    """
    with tempfile.TemporaryDirectory(prefix="bench-rembg-p-") as tmp:
        root = Path(tmp)
        runs = []
        for index in range(processes):
            source, target = root / f"in{index}", root / f"out{index}"
            source.mkdir()
            for image in images[index::processes]:
                (source / image.name).symlink_to(image.resolve())
            runs.append((source, target))
        started = time.monotonic()
        logs = [(root / f"log{index}").open("w+b") for index in range(processes)]
        procs = [
            subprocess.Popen(
                [str(REMBG), "p", "-m", "u2netp", str(source), str(target)],
                env={**env(), **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for (source, target), log in zip(runs, logs, strict=True)
        ]
        peak = 0.0
        while any(proc.poll() is None for proc in procs):
            peak = max(peak, sum(peak_rss_mb(proc.pid) for proc in procs if proc.poll() is None))
            time.sleep(0.05)
        wall = time.monotonic() - started
        steady = 0.0
        outputs = 0
        for proc, (_, target), log in zip(procs, runs, logs, strict=True):
            log.seek(0)
            output = log.read().decode(errors="replace")
            log.close()
            if proc.returncode:
                raise RuntimeError(f"rembg p failed: {output[-2000:]}")
            times = sorted(path.stat().st_mtime for path in target.glob("*.png"))
            outputs += len(times)
            steady += (len(times) - 1) / (times[-1] - times[0])
        if outputs != len(images):
            raise RuntimeError(f"rembg p wrote {outputs} cutouts for {len(images)} images")
        return {
            "processes": processes,
            "images": len(images),
            "ips": round(steady, 3),
            "wall_ips": round(len(images) / wall, 3),
            "wall_seconds": round(wall, 2),
            "peak_rss_mb": round(peak, 1),
            "env": extra_env or {},
        }


# --- rembg s ------------------------------------------------------------------------


class RembgServer:
    """`rembg s --no-ui` (the API without the Gradio page) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.log_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [str(REMBG), "s", "--host", "127.0.0.1", "--port", str(self.port), "--no-ui", "--log_level", "warning"],
            env=env(),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")[-3000:]

    def remove(self, http: requests.Session, image: bytes, *, timeout: float = 120) -> bytes:
        reply = http.post(
            f"{self.url}/api/remove",
            files={"file": ("photo.jpg", image, "image/jpeg")},
            data={"model": "u2netp"},
            timeout=timeout,
        )
        if reply.status_code != 200 or reply.headers.get("content-type") != "image/png":
            raise RuntimeError(f"rembg s answered {reply.status_code}: {reply.text[:300]}")
        return reply.content

    def first_result_seconds(self, image: bytes, timeout: float = 120) -> float:
        """Seconds from process start to the first cutout (polling until it listens)."""
        assert self.process is not None
        return first_result_seconds(
            "rembg s", self.process, self.started_at, lambda http: self.remove(http, image), self.log, timeout
        )

    def run(self, images: list[bytes], concurrency: int) -> LatencyRun:
        sessions = [requests.Session() for _ in range(concurrency)]
        try:
            return run_requests(
                lambda client, image: self.remove(sessions[client], image), images, concurrency=concurrency
            )
        finally:
            for http in sessions:
                http.close()

    @property
    def peak_rss_mb(self) -> float:
        assert self.process is not None
        return peak_rss_mb(self.process.pid)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.log_file.close()
