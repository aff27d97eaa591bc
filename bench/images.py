"""The photos `make bench` times: real camera photographs, cropped to 4:3 and resized, as JPEG (quality 90).

The real-photo set of `make quality` (bench/realphotos: 64 photos of people, animals, products,
plants and groups) when it is installed; otherwise, on a fresh clone, the camera photos that
ship inside scikit-image. No grain or other generated pixels are added. Both sets are smaller
than the bench sizes (480 to 854 pixels wide), so every image is an enlargement: the phone-size
(12 MP) row takes the set's largest photos, upscaled, and says so.
"""

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from bench import realphotos
from tests.conftest import SKIMAGE_DATA

SKIMAGE_PHOTOS = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "rocket.jpg",
]
BULK_SIZE, LARGE_SIZE, SMALL_SIZE = (1280, 960), (4000, 3000), (640, 480)
HUGE_SIZE = (8160, 6120)  # 50 MP, the server's default MAX_IMAGE_PIXELS


@dataclass(frozen=True)
class ImageSet:
    source: str  # which photos: "realphotos" or "scikit-image"
    bulk: list[Path]
    large: Path  # the first phone-size photo
    small: Path
    phone: list[Path]  # 12 MP: the largest photos of the set, upscaled (sources: their sizes before)
    sources: list[str]
    huge: Path


def sources(count: int) -> tuple[str, list[Image.Image]]:
    """`count` photos, spread evenly over the real-photo set, else scikit-image's (mirrored on the second
    round and later, so that no two are the same picture)."""
    try:
        photos = realphotos.load()
    except realphotos.PhotosMissing:
        originals = [skimage_photo(name) for name in SKIMAGE_PHOTOS]
        chosen = [originals[index % len(originals)] for index in range(count)]
        return "scikit-image", [ImageOps.mirror(im) if i // len(originals) % 2 else im for i, im in enumerate(chosen)]
    picked = [photos[index * len(photos) // count] for index in range(count)]
    return "realphotos", [Image.open(io.BytesIO(photo.jpeg)).convert("RGB") for photo in picked]


def skimage_photo(name: str) -> Image.Image:
    return Image.open(SKIMAGE_DATA / name).convert("RGB")


def jpeg(image: Image.Image, size: tuple[int, int] | None = None, quality: int = 90) -> bytes:
    """`image` as JPEG, first cropped to `size`'s shape and resized to it, if given."""
    buffer = io.BytesIO()
    (ImageOps.fit(image, size, Image.Resampling.LANCZOS) if size else image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def build(folder: Path, *, count: int = 50, phones: int = 6) -> ImageSet:
    """Write the set into `folder` and return its paths."""
    source, photos = sources(count)
    (folder / "bulk").mkdir(parents=True, exist_ok=True)
    for old in (folder / "bulk").glob("*.jpg"):
        old.unlink()
    bulk = [folder / "bulk" / f"photo-{i:02d}.jpg" for i in range(count)]
    largest = sorted(photos, key=lambda photo: photo.width * photo.height, reverse=True)[:phones]
    phone = [folder / f"phone-{i}.jpg" for i in range(len(largest))]
    sizes = [f"{photo.width}x{photo.height}" for photo in largest]
    images = ImageSet(source, bulk, phone[0], folder / "small.jpg", phone, sizes, folder / "huge.jpg")
    for path, photo in zip(bulk, photos, strict=True):
        path.write_bytes(jpeg(photo, BULK_SIZE))
    for path, photo in zip(phone, largest, strict=True):
        path.write_bytes(jpeg(photo, LARGE_SIZE))
    images.small.write_bytes(jpeg(photos[0], SMALL_SIZE))
    images.huge.write_bytes(jpeg(largest[0], HUGE_SIZE))
    return images
