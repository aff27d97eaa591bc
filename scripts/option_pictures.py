"""Draw docs/images/option-*.png: what each output option does to one photo (for docs/api.md).

.venv/bin/python scripts/option_pictures.py
"""

import io
import os
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bgsite.settings")
django.setup()

from django.conf import settings  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from removal.cutout import pipeline  # noqa: E402
from removal.cutout.installed import installed_models  # noqa: E402
from removal.cutout.options import parse_options  # noqa: E402
from tests.conftest import photo_bytes  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
EXAMPLES = {
    "original": None,
    "default": {},
    "bg_color": {"bg_color": "#3b82f6", "format": "jpg"},
    "crop": {"crop": "true", "crop_margin": "10px"},
    "channels-alpha": {"channels": "alpha"},
    "bg_image": {"bg_image": "coffee"},
}


def checkerboard(size: tuple[int, int], cell: int = 12) -> Image.Image:
    board = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], cell):
        for x in range((y // cell) % 2 * cell, size[0], cell * 2):
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(210, 210, 210))
    return board


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    photo = photo_bytes("astronaut.png", size=(320, 320))
    background = Image.open(io.BytesIO(photo_bytes("coffee.png", size=(320, 320)))).convert("RGB")
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    for name, params in EXAMPLES.items():
        if params is None:
            picture = Image.open(io.BytesIO(photo)).convert("RGB")
        else:
            options = parse_options(
                {key: value for key, value in params.items() if key != "bg_image"},
                default_model=settings.REMBG_MODEL,
                models=installed_models(settings.U2NET_HOME),
            )
            cutout = pipeline.cut_out(
                photo,
                session=session,
                max_pixels=settings.MAX_IMAGE_PIXELS,
                compress_level=9,
                options=options,
                background=background if "bg_image" in params else None,
            )
            result = Image.open(io.BytesIO(cutout.data))
            if result.mode == "RGBA":  # show transparency on a checkerboard, as the page does
                shown = checkerboard(result.size)
                shown.paste(result, (0, 0), result)
                result = shown
            picture = result.convert("RGB")
        picture.thumbnail((240, 240))
        picture.save(OUT / f"option-{name}.jpg", quality=80)
        print("wrote", OUT / f"option-{name}.jpg")


if __name__ == "__main__":
    main()
