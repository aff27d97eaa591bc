"""The U²-Net family's prediction on onnxruntime directly, as rembg makes it.

`import rembg` loads pymatting and numba for alpha matting: about 180 MB of
memory and 1.3 s per process that the bundled model never uses. So the models
whose rembg session is this U²-Net prediction (u2netp as shipped, the other
U²-Net models of the catalog, and their int8 copies) run here; every other model, and alpha matting, go through
rembg itself, imported only then. `tests/cutout/test_u2net.py` checks the masks are
byte for byte rembg's up to 1,920 pixels a side (larger photos: see model_input). On the
shared layout (ORT_LAYOUT) the images of several threads run in one batch when the model
file allows it (open_session).
"""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from removal.cutout import cores
from removal.cutout.batching import BatchRunner
from removal.cutout.model_catalog import CATALOG, INT8_SUFFIX
from removal.cutout.refine import REDUCING_GAP

logger = logging.getLogger(__name__)

# Models whose rembg session is rembg.sessions.u2netp.U2netpSession (or U2netSession, ...): 320x320
# input, ImageNet mean and deviation, the first output's first channel min-max scaled; and their int8
# copies (scripts/quantize_model.py), which rembg does not know by name.
U2NET_MODELS = {model.name for model in CATALOG.values() if model.u2net_family}
U2NET_MODELS |= {name + INT8_SUFFIX for name in U2NET_MODELS}
SIDE = 320
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# How far (on the model's 0..1 output) an image run in a batch may come out from the same image run alone
# for the graph to count as running batches: float rounding (a GPU may pick other kernels for a batch) stays
# far below it; a graph that mixes the images of a batch does not.
SIDE_BY_SIDE_TOLERANCE = 1e-2


# The model's input is resized in two bands of rows, side by side where a core is idle (removal.cutout.cores):
# Pillow's LANCZOS resize with a `box` reads the rows around the band that the whole resize would, so the
# bands join into the very same pixels (tests/cutout/test_u2net.py), in about half the time on two cores.
# The mask of a photo from 2 x REDUCING_GAP model sides (1,920 pixels), whose mask is not rembg's byte for byte
# anyway (see model_input), is enlarged in two bands too: at 12 MP about half of its 43 ms on two cores. Always in
# bands there, so a photo's mask is the same alone or beside another. Below, a mask enlarged at least twice in
# height to an even number of rows is banded too: its bands meet at the source's middle row exactly, and they join
# into rembg's very bytes (checked for every even height from 640 to 1,918: 1280x960 in 3.1 ms, not 4.9); any other
# gets one LANCZOS resize as rembg's (a band's edge that is no exact source row moves some levels by one).
BANDED_MASK_SIDE = int(2 * REDUCING_GAP * SIDE)


def _resized_rows(band: tuple[Image.Image, tuple[int, int], int, int, float | None]) -> np.ndarray:
    """Rows top .. bottom of `image` resized to `size` (LANCZOS, with `reducing_gap`), from the box of its rows
    that the whole resize would read them from."""
    image, (width, height), top, bottom, reducing_gap = band
    box = (0, top * image.height / height, image.width, bottom * image.height / height)
    resized = image.resize((width, bottom - top), Image.Resampling.LANCZOS, box=box, reducing_gap=reducing_gap)
    return np.asarray(resized)


def _resized_in_two_bands(image: Image.Image, size: tuple[int, int], reducing_gap: float | None = None) -> np.ndarray:
    """`image` resized to `size` as the pixels of two bands of rows, each on a core where one is idle."""
    middle = size[1] // 2
    bands = [(image, size, 0, middle, reducing_gap), (image, size, middle, size[1], reducing_gap)]
    return np.concatenate(cores.each_on_a_core(_resized_rows, bands))


def enlarged_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The model's mask at the photo's size (LANCZOS), in two bands of rows for a large photo."""
    joins_exactly = size[1] % 2 == 0 and size[1] >= 2 * mask.height
    if (max(size) < BANDED_MASK_SIDE and not joins_exactly) or size[1] < 2:
        return mask.resize(size, Image.Resampling.LANCZOS)
    return Image.fromarray(_resized_in_two_bands(mask, size), mode="L")


class U2netSession:
    """What bgsite needs of a rembg session (`predict`) for a U²-Net model file, or the bytes of one.

    `predict` is model_input, run and mask_from_output in turn. With `batches`
    (open_session, the shared layout), the run happens in a batch with other
    threads' images; preparing the input and the mask stays in the caller's thread.
    """

    def __init__(self, model: Path | bytes, options: Any, providers: list[Any]) -> None:
        import onnxruntime as ort

        self.inner_session = ort.InferenceSession(
            model if isinstance(model, bytes) else str(model), options, providers=providers
        )
        self.input_name = self.inner_session.get_inputs()[0].name
        self.batches: BatchRunner | None = None

    def model_input(self, image: Image.Image) -> np.ndarray:
        """rembg's BaseSession.normalize, without its copy of an image that is RGB already. A photo at least
        2 x REDUCING_GAP times the model's side (1,920 pixels) is box-reduced by an integer factor before the
        LANCZOS filter (Pillow's reducing_gap): at 12 MP a third of the time, the input within a level or two of
        rembg's and the masks as good (docs/benchmarks.md); a smaller photo gets rembg's input byte for byte."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        rgb.load()  # a file not yet read is read once here, not by both bands at once
        pixels = _resized_in_two_bands(rgb, (SIDE, SIDE), REDUCING_GAP)
        # rembg's arithmetic, ((p / max) - mean) / std in float64 then float32, done once per channel and level
        # (256 values) and looked up for every pixel: the same numbers in a fraction of the time.
        levels = np.arange(256)[:, None] / max(int(pixels.max()), 1e-6)
        table = ((levels - MEAN) / STD).astype(np.float32).T
        planes = np.empty((1, 3, SIDE, SIDE), dtype=np.float32)
        for channel in range(3):
            table[channel].take(pixels[:, :, channel], out=planes[0, channel])
        return planes

    def run(self, model_input: np.ndarray, run_options: Any = None) -> np.ndarray:
        """The model's first output (the fused mask) for a batch of inputs."""
        return self.inner_session.run(None, {self.input_name: model_input}, run_options)[0]

    def mask_from_output(self, output: np.ndarray, size: tuple[int, int]) -> Image.Image:
        """One image's output min-max scaled to a mask of `size` (rembg's U2netpSession.predict)."""
        prediction = output[:, 0, :, :]
        highest, lowest = np.max(prediction), np.min(prediction)
        prediction = np.squeeze((prediction - lowest) / (highest - lowest))
        return enlarged_mask(Image.fromarray((prediction * 255).astype("uint8"), mode="L"), size)

    def predict(self, image: Image.Image, *, meanwhile: Callable[[], None] | None = None) -> list[Image.Image]:
        """The subject's mask at the image's size. `meanwhile` is called once the model's input is made, just
        before the model runs: to start work beside the run (cores.Later) that would slow the input's resize,
        which takes every core, if it were started sooner."""
        model_input = self.model_input(image)
        if meanwhile is not None:
            meanwhile()
        output = self.run(model_input) if self.batches is None else self.batches.run(model_input)
        return [self.mask_from_output(output, image.size)]

    def runs_images_side_by_side(self) -> bool:
        """Whether two images run in one batch each come out as they do alone.

        Two different synthetic pictures, so that a graph mixing the images of a
        batch shows. A graph that cannot run a batch fails a node: that is a
        "no", so onnxruntime is told not to log it as an error.
        """
        import onnxruntime as ort

        square = np.full((1, 3, SIDE, SIDE), -2.0, dtype=np.float32)
        square[:, :, SIDE // 4 : SIDE // 2, SIDE // 3 : 3 * SIDE // 4] = 2.0
        pictures = np.concatenate([square, -square[:, :, ::-1, :]])
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # fatal only
        try:
            together = self.run(pictures, quiet)
        except Exception:  # onnxruntime's Fail or InvalidArgument, for a batch this graph cannot run
            return False
        alone = np.concatenate([self.run(pictures[:1]), self.run(pictures[1:])])
        return together.shape == alone.shape and bool(np.abs(together - alone).max() <= SIDE_BY_SIDE_TOLERANCE)


def batchable_graph(model_path: Path) -> bytes:
    """The model with the first dimension of its inputs and outputs named, not fixed (U²-Net files fix it to 1).

    The shapes stored for its inner tensors were inferred for the fixed batch;
    they are dropped, and onnxruntime infers them again.
    """
    import onnx

    model = onnx.load(str(model_path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "batch"
    del model.graph.value_info[:]
    return model.SerializeToString()


def open_session(
    model_path: Path, options: Any, providers: list[Any], *, max_batch: int = 1, batch_wait_seconds: float = 0.0
) -> U2netSession:
    """A session of the model; with `max_batch` > 1, one that runs concurrent callers' images in one batch
    when its graph runs them (u2netp's fp32 file does; its int8 copy has the batch fixed in its inner sizes)."""
    if max_batch > 1:
        session = U2netSession(batchable_graph(model_path), options, providers)
        if session.runs_images_side_by_side():
            session.batches = BatchRunner(session.run, max_batch=max_batch, wait_seconds=batch_wait_seconds)
            logger.info("%s runs up to %d images per run", model_path.stem, max_batch)
            return session
        logger.info("%s runs one image per run: its graph cannot run a batch", model_path.stem)
    return U2netSession(model_path, options, providers)
