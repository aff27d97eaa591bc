"""rembg as its users run it: `rembg p` (a folder) and `rembg s` (its HTTP server), from bench/.venv-rembg.

The venv is made on first use from bench/requirements-rembg.txt. rembg finds the same offline
u2netp weights through U2NET_HOME, and any download attempt fails (the proxy variables point
nowhere), so nothing is fetched at run time.
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

from bench.common import MODEL_DIR, REPO, log
from tests.conftest import free_port, rss_bytes

VENV = REPO / "bench" / ".venv-rembg"
REQUIREMENTS = REPO / "bench" / "requirements-rembg.txt"
PYTHON, REMBG = str(VENV / "bin" / "python"), str(VENV / "bin" / "rembg")
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"
NOWHERE = "http://127.0.0.1:9"
OFFLINE_ENV = {
    **{name: NOWHERE for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
    **{name: "127.0.0.1,localhost" for name in ("NO_PROXY", "no_proxy")},
    "U2NET_HOME": str(MODEL_DIR),
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "BROWSER": "true",  # `rembg s` opens a browser at start-up; make that a no-op
    "PYTHONUNBUFFERED": "1",
}


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **OFFLINE_ENV, **extra}


def check_model() -> None:
    weights = MODEL_DIR / "u2netp.onnx"
    if not weights.exists():
        raise SystemExit(f"{weights} is missing: run `make setup` first (rembg must never download it)")
    if hashlib.md5(weights.read_bytes(), usedforsecurity=False).hexdigest() != U2NETP_MD5:
        raise SystemExit(f"{weights} does not have rembg's u2netp checksum")


def ensure_venv() -> None:
    """Make the venv when the requirements changed, then warm numba's cache once."""
    stamp = VENV / ".bench-ready"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted and Path(PYTHON).exists():
        return
    python = subprocess.run([str(REPO / "scripts" / "find-python.sh")], capture_output=True, text=True, check=True)
    log(f"creating {VENV.relative_to(REPO)} with {python.stdout.strip()} (rembg[cli], once)")
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([python.stdout.strip(), "-m", "venv", str(VENV)], check=True)
    pip = [PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    log("warming numba's cache in the rembg venv (first import of rembg, ~40 s once)")
    subprocess.run([PYTHON, "-c", "import rembg.bg"], check=True, env=env())
    stamp.write_text(wanted)


def versions() -> str:
    names = ("rembg", "onnxruntime", "pillow")
    script = f"import importlib.metadata as m; print(', '.join(n + ' ' + m.version(n) for n in {names!r}))"
    return subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def peak_rss_mb(process: subprocess.Popen[bytes] | None) -> float:
    """The most memory `process` (rembg's or bgsite's server) has held so far; 0 once it has exited."""
    try:
        return rss_bytes(process.pid, "VmHWM") / 2**20 if process else 0.0
    except (AssertionError, OSError):
        return 0.0


def folder_run(images: list[Path], *, processes: int, **extra_env: str) -> dict[str, Any]:
    """`rembg p -m u2netp IN OUT` over `images`, split evenly across `processes` at once. Images/s runs
    from each process's first output file to its last, so the CLI's start-up is not counted."""
    with tempfile.TemporaryDirectory(prefix="bench-rembg-p-") as tmp:
        folders = [(Path(tmp) / f"in{index}", Path(tmp) / f"out{index}") for index in range(processes)]
        for index, (source, _) in enumerate(folders):
            source.mkdir()
            for image in images[index::processes]:
                (source / image.name).symlink_to(image.resolve())
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [REMBG, "p", "-m", "u2netp", str(source), str(target)], env=env(**extra_env), stderr=subprocess.PIPE
            )
            for source, target in folders
        ]
        peak = 0.0
        while any(proc.poll() is None for proc in procs):
            peak = max(peak, sum(map(peak_rss_mb, procs)))
            time.sleep(0.05)
        wall = time.monotonic() - started
        outputs = [sorted(target.glob("*.png"), key=lambda path: path.stat().st_mtime) for _, target in folders]
        for proc in procs:
            assert proc.stderr is not None
            if proc.wait():
                raise RuntimeError(f"rembg p failed: {proc.stderr.read()[-2000:]!r}")
        if sum(map(len, outputs)) != len(images):
            raise RuntimeError(f"rembg p wrote {sum(map(len, outputs))} cutouts for {len(images)} images")
        steady = sum((len(out) - 1) / (out[-1].stat().st_mtime - out[0].stat().st_mtime) for out in outputs)
        return {
            "ips": round(steady, 3),
            "wall_ips": round(len(images) / wall, 3),
            "peak_rss_mb": round(peak, 1),
            "kb_per_image": round(sum(path.stat().st_size for out in outputs for path in out) / len(images) / 1000, 1),
        }


class RembgServer:
    """`rembg s --no-ui` (the API without the Gradio page, its leanest form) on a free port."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.started_at = time.monotonic()
        port = self.url.rsplit(":", 1)[1]
        command = [REMBG, "s", "--host", "127.0.0.1", "--port", port, "--no-ui", "--log_level", "warning"]
        self.process = subprocess.Popen(command, env=env(), stdout=self.log, stderr=subprocess.STDOUT)

    def remove(self, http: requests.Session, image: bytes) -> bytes:
        files, data = {"file": ("photo.jpg", image, "image/jpeg")}, {"model": "u2netp"}
        reply = http.post(f"{self.url}/api/remove", files=files, data=data, timeout=180)
        if reply.status_code != 200 or reply.headers.get("content-type") != "image/png":
            raise RuntimeError(f"rembg s answered {reply.status_code}: {reply.text[:300]}")
        return reply.content

    def cold_start_s(self, image: bytes, timeout: float = 120) -> float:
        """From spawning the process to its first cutout (its session is made on the first request)."""
        with requests.Session() as http:
            while time.monotonic() < self.started_at + timeout and self.process.poll() is None:
                try:
                    self.remove(http, image)
                    return time.monotonic() - self.started_at
                except requests.ConnectionError:
                    time.sleep(0.05)
        self.log.seek(0)
        raise RuntimeError(f"rembg s gave no cutout:\n{self.log.read().decode(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.log.close()
