"""The benchmark's image set, made deterministically from photos shipped in scikit-image.

50 photos of 1280x960 (ten source photos, five crops/flips each), one 12 MP
(4000x3000) and one 640x480, as JPEG (quality 90) in bench/images/. A little
seeded grain is added after upscaling so the files compress (and decode and
re-encode) like camera photos rather than like smooth enlargements.
"""

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage
from PIL import Image, ImageOps

from scripts.quantize_model import CALIBRATION_PHOTOS

# The same scikit-image photos the int8 model is calibrated on.
SOURCES = CALIBRATION_PHOTOS
# (left, top, right, bottom) as fractions of the largest 4:3 box, and whether to mirror.
VARIANTS = (
    ((0.00, 0.00, 1.00, 1.00), False),
    ((0.00, 0.00, 1.00, 1.00), True),
    ((0.00, 0.05, 0.90, 0.95), False),
    ((0.10, 0.00, 1.00, 0.90), True),
    ((0.05, 0.10, 0.85, 0.90), False),
)
BULK_SIZE = (1280, 960)
LARGE_SIZE = (4000, 3000)
SMALL_SIZE = (640, 480)
VERSION = 1  # bump when the recipe changes so old sets are rebuilt


def _source(name: str) -> Image.Image:
    with Image.open(Path(skimage.__file__).parent / "data" / name) as image:
        return image.convert("RGB")


def _four_by_three(image: Image.Image, fractions: tuple[float, float, float, float]) -> Image.Image:
    width, height = image.size
    box_w, box_h = (width, width * 3 // 4) if width * 3 <= height * 4 else (height * 4 // 3, height)
    x0, y0 = (width - box_w) // 2, (height - box_h) // 2
    left, top, right, bottom = fractions
    box = (x0 + int(left * box_w), y0 + int(top * box_h), x0 + int(right * box_w), y0 + int(bottom * box_h))
    crop = image.crop(box)
    # Stretch the crop back to exactly 4:3 (a few percent at most).
    return crop.resize((crop.width, crop.width * 3 // 4), Image.Resampling.BICUBIC)


def _photo(image: Image.Image, size: tuple[int, int], seed: int) -> bytes:
    enlarged = np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.int16)
    grain = np.random.default_rng(seed).normal(0, 3, (*enlarged.shape[:2], 1)).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(enlarged + grain, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass(frozen=True)
class ImageSet:
    bulk: list[Path]
    large: Path
    small: Path


def build(folder: Path, *, count: int = 50) -> ImageSet:
    """Write the set into `folder` (skipped when already there) and return its paths."""
    bulk_dir = folder / "bulk"
    stamp = folder / "set.json"
    wanted = {"version": VERSION, "count": count}
    paths = ImageSet(
        bulk=[bulk_dir / f"photo-{index:02d}.jpg" for index in range(count)],
        large=folder / "large-4000x3000.jpg",
        small=folder / "small-640x480.jpg",
    )
    everything = [*paths.bulk, paths.large, paths.small]
    if stamp.exists() and json.loads(stamp.read_text()) == wanted and all(path.exists() for path in everything):
        return paths
    bulk_dir.mkdir(parents=True, exist_ok=True)
    for old in bulk_dir.glob("*.jpg"):
        old.unlink()
    for index, path in enumerate(paths.bulk):
        fractions, mirror = VARIANTS[(index // len(SOURCES)) % len(VARIANTS)]
        image = _four_by_three(_source(SOURCES[index % len(SOURCES)]), fractions)
        path.write_bytes(_photo(ImageOps.mirror(image) if mirror else image, BULK_SIZE, seed=index))
    astronaut = _four_by_three(_source("astronaut.png"), VARIANTS[0][0])
    paths.large.write_bytes(_photo(astronaut, LARGE_SIZE, seed=1000))
    paths.small.write_bytes(_photo(astronaut, SMALL_SIZE, seed=1001))
    stamp.write_text(json.dumps(wanted))
    return paths
