"""The U²-Net family's prediction on onnxruntime directly, exactly as rembg makes it.

`import rembg` loads pymatting and numba for alpha matting: about 180 MB of
memory and 1.3 s per process that the bundled model never uses. So the models
whose rembg session is this U²-Net prediction (u2netp as shipped, the other
U²-Net models of the catalog, and their int8 copies) run here; every other model, and alpha matting, go through
rembg itself, imported only then. `tests/test_u2net.py` checks the masks are
byte for byte rembg's.
"""

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from removal.model_catalog import CATALOG, INT8_SUFFIX

# Models whose rembg session is rembg.sessions.u2netp.U2netpSession (or U2netSession, ...): 320x320
# input, ImageNet mean and deviation, the first output's first channel min-max scaled; and their int8
# copies (scripts/quantize_model.py), which rembg does not know by name.
U2NET_MODELS = {model.name for model in CATALOG.values() if model.u2net_family}
U2NET_MODELS |= {name + INT8_SUFFIX for name in U2NET_MODELS}
SIDE = 320
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class U2netSession:
    """What bgsite needs of a rembg session (`predict`) for a U²-Net model file."""

    def __init__(self, model_path: Path, options: Any, providers: list[str]) -> None:
        import onnxruntime as ort

        self.inner_session = ort.InferenceSession(str(model_path), options, providers=providers)
        self.input_name = self.inner_session.get_inputs()[0].name

    def model_input(self, image: Image.Image) -> np.ndarray:
        """rembg's BaseSession.normalize, without its copy of an image that is RGB already."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        pixels = np.array(rgb.resize((SIDE, SIDE), Image.Resampling.LANCZOS))
        pixels = pixels / max(np.max(pixels), 1e-6)
        planes = np.zeros((SIDE, SIDE, 3))
        for channel in range(3):
            planes[:, :, channel] = (pixels[:, :, channel] - MEAN[channel]) / STD[channel]
        return np.expand_dims(planes.transpose((2, 0, 1)), 0).astype(np.float32)

    def predict(self, image: Image.Image) -> list[Image.Image]:
        """The subject's mask at the image's size (rembg's U2netpSession.predict)."""
        prediction = self.inner_session.run(None, {self.input_name: self.model_input(image)})[0][:, 0, :, :]
        highest, lowest = np.max(prediction), np.min(prediction)
        prediction = np.squeeze((prediction - lowest) / (highest - lowest))
        mask = Image.fromarray((prediction * 255).astype("uint8"), mode="L")
        return [mask.resize(image.size, Image.Resampling.LANCZOS)]
