"""The first screen's demonstration: a photo shipped with bgsite, cut out by this server's own pipeline."""

import functools
from pathlib import Path

from django.conf import settings

from removal.cutout import pipeline
from removal.cutout.options import Options

# NASA's portrait of Eileen Collins (public domain), as scikit-image ships it, made smaller.
SAMPLE_PHOTO = Path(settings.BASE_DIR) / "static" / "samples" / "astronaut.jpg"


@functools.cache
def sample_cutout() -> bytes:
    """The sample photo through the same pipeline, default model and options as every upload (once per process)."""
    return pipeline.cut_out(
        SAMPLE_PHOTO.read_bytes(),
        session=pipeline.model_session(
            settings.REMBG_MODEL, settings.U2NET_HOME, solo_threads=settings.ORT_SOLO_THREADS
        ),
        max_pixels=settings.MAX_IMAGE_PIXELS,
        compress_level=settings.PNG_COMPRESS_LEVEL,
        options=Options(format="png"),
    ).data
