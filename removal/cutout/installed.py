"""Which models are installed under the model folder, and what `make quality` measured for them."""

import hashlib
import json
from pathlib import Path
from typing import Any


def model_weights(model_dir: Path, name: str) -> Path | None:
    """Where `name`'s weights are under `model_dir`: flat (<name>.onnx, as setup installs the
    bundled model) or in rembg's own layout (models/<name>/<name>.onnx, as the image build
    downloads more); None when not installed."""
    for path in (model_dir / f"{name}.onnx", model_dir / "models" / name / f"{name}.onnx"):
        if path.is_file():
            return path
    return None


CHUNK_BYTES = 1 << 20  # how much of a weights file is read at a time (hashing, copying, downloading)


def file_hexdigest(path: Path, algorithm: str) -> str:
    """The hex digest of the file at `path` by hashlib's `algorithm` ("sha256", "md5"...), read a chunk at a time."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# Each weights file's SHA-256 as this process first read it. A process's model sessions run the weights they loaded
# (removal.cutout.sessions keeps them until it stops), so what it says it runs does not follow a file replaced under it.
_sha256_first_read: dict[Path, str] = {}


def weights_sha256(model_dir: Path, name: str) -> str | None:
    """The SHA-256 (hex) of `name`'s weights under `model_dir` as this process first read them: read once a process
    (0.28 s for u2net's 176 MB), a dictionary look-up after that; None while not installed."""
    path = model_weights(model_dir, name)
    if path is None:
        return None
    if path not in _sha256_first_read:
        _sha256_first_read[path] = file_hexdigest(path, "sha256")
    return _sha256_first_read[path]


MEASURED_QUALITY = Path(__file__).with_name("measured_quality.json")


def measured_quality(models: list[str]) -> dict[str, Any]:
    """What `make quality` last measured on real photos, per model and preset, for the installed `models`."""
    try:
        measured = json.loads(MEASURED_QUALITY.read_text())
    except (OSError, ValueError):
        return {}
    return {
        "photos": measured.get("photos"),
        "measured_on": measured.get("measured_on"),
        "models": {
            name: {
                # A preset measured with a partner model that is not installed here would promise too much.
                preset: figures
                for preset, figures in presets.items()
                if figures.get("partner") is None or figures["partner"] in models
            }
            for name, presets in measured.get("models", {}).items()
            if name in models
        },
    }


def installed_models(model_dir: Path) -> list[str]:
    names = {path.stem for path in model_dir.glob("*.onnx")} | {path.stem for path in model_dir.glob("models/*/*.onnx")}
    return sorted(names)
