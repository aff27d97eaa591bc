"""removal.u2net: rembg's U²-Net prediction without importing rembg, mask for mask."""

import io
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from removal import pipeline, u2net
from removal.options import model_weights
from tests.conftest import photo_bytes

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"]


@pytest.fixture(scope="module")
def sessions() -> Iterator[tuple[object, object]]:
    import onnxruntime as ort
    from rembg import new_session

    patch = pytest.MonkeyPatch()
    patch.setenv("U2NET_HOME", str(settings.U2NET_HOME))  # rembg must find the bundled weights, not download

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    ours = u2net.U2netSession(model_weights(settings.U2NET_HOME, "u2netp"), options, ["CPUExecutionProvider"])
    theirs = new_session("u2netp", sess_opts=options, providers=["CPUExecutionProvider"])
    yield ours, theirs
    patch.undo()


@pytest.mark.parametrize("photo", PHOTOS)
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_masks_are_rembgs_byte_for_byte(sessions: tuple[object, object], photo: str, mode: str) -> None:
    ours, theirs = sessions
    image = Image.open(io.BytesIO(photo_bytes(photo, size=(500, 375)))).convert(mode)
    (our_mask,) = ours.predict(image)  # type: ignore[attr-defined]
    (their_mask,) = theirs.predict(image)  # type: ignore[attr-defined]
    assert our_mask.mode == "L" and our_mask.size == image.size
    assert our_mask.tobytes() == their_mask.tobytes()
    assert 0 < np.asarray(our_mask).mean() < 255  # a real mask, not a blank one


def test_the_bundled_model_runs_without_importing_rembg() -> None:
    script = (
        "import sys; from pathlib import Path; from removal import pipeline; from tests.conftest import photo_bytes;"
        f"session = pipeline.create_session('u2netp', Path({str(settings.U2NET_HOME)!r}));"
        "cutout = pipeline.cut_out(photo_bytes('coffee.png'), session=session, max_pixels=10**8, compress_level=1);"
        "print(cutout.width, cutout.height, 'rembg' in sys.modules, 'numba' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["600", "400", "False", "False"]


def test_the_int8_copy_made_at_setup_agrees_with_u2netp() -> None:
    """The served default must cut out what u2netp cuts out (make quality holds it to the ground truth)."""
    fp32 = pipeline.create_session("u2netp", settings.U2NET_HOME)
    int8 = pipeline.create_session("u2netp-int8", settings.U2NET_HOME)
    for photo in PHOTOS:
        image = Image.open(io.BytesIO(photo_bytes(photo, size=(500, 375)))).convert("RGB")
        (reference,), (quantized,) = fp32.predict(image), int8.predict(image)
        a, b = np.asarray(reference, dtype=np.int16), np.asarray(quantized, dtype=np.int16)
        iou = ((a > 127) & (b > 127)).sum() / ((a > 127) | (b > 127)).sum()
        assert iou > 0.95, (photo, iou)
        assert np.abs(a - b).mean() < 6, photo
