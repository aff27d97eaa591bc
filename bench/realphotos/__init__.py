"""The real-photo set of `make quality`: photographs with their true alpha (or exact masks).

The photos come from public benchmarks (alphamatting.com, Oxford-IIIT Pet, DAVIS 2016;
`SOURCES.md` beside this file, with each licence). They are not in git: their
licences do not allow it, or say nothing. `manifest.json` here names every photo,
its category, where it comes from and the SHA-256 of both files, so a copy placed
in `QUALITY_PHOTOS` (default `.cache/realphotos`, else `../shared/realphotos`) is
checked file by file before anything is measured.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import REPO

MANIFEST = Path(__file__).with_name("manifest.json")
CANDIDATES = (REPO / ".cache" / "realphotos", REPO.parent / "shared" / "realphotos")


class PhotosMissing(RuntimeError):
    """The real-photo set is not where `make quality` looks, or a file differs from the manifest."""


@dataclass(frozen=True)
class Photo:
    id: str
    category: str
    description: str
    jpeg: bytes
    truth: np.ndarray  # uint8 alpha, the photo's size
    trimap: bool  # truth 128 is a trimap's unknown border, counted nowhere


def folder() -> Path:
    if configured := os.environ.get("QUALITY_PHOTOS"):
        return Path(configured)
    return next((candidate for candidate in CANDIDATES if (candidate / "images").is_dir()), CANDIDATES[0])


def load(root: Path | None = None, manifest: Path = MANIFEST) -> list[Photo]:
    """Every photo of the manifest, its files checked against their SHA-256."""
    root = root or folder()
    photos = []
    for entry in json.loads(manifest.read_text()):
        image_path, alpha_path = root / "images" / f"{entry['id']}.jpg", root / "alpha" / f"{entry['id']}.png"
        try:
            jpeg, alpha = image_path.read_bytes(), alpha_path.read_bytes()
        except OSError:
            raise PhotosMissing(
                f"{image_path} or {alpha_path} is missing: put the real-photo set (bench/realphotos/SOURCES.md) "
                f"in {root}, or name its folder in QUALITY_PHOTOS"
            ) from None
        for data, kind, path in ((jpeg, "image", image_path), (alpha, "alpha", alpha_path)):
            if hashlib.sha256(data).hexdigest() != entry[f"sha256_{kind}"]:
                raise PhotosMissing(f"{path} differs from the manifest (SHA-256)")
        with Image.open(alpha_path) as opened:
            truth = np.asarray(opened.convert("L"))
        trimap = entry["truth"] == "trimap"
        photos.append(Photo(entry["id"], entry["category"], entry["description"], jpeg, truth, trimap))
    return photos
