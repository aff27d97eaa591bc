"""Which models are installed under the model folder, and what `make quality` measured for them."""

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
