"""Bytes in, cutout bytes out: the image core's one entry, for stills, animations and videos alike.

No Django here: the batch jobs, /bgremove and the benchmarks call these functions
directly. `cut_out` sends each input its way (dispatch.py: stills.py, animations.py,
video.py); decode.py reads and checks inputs, sessions.py runs the models, encode.py
writes the result. The names callers use are re-exported here, so they say `pipeline.<name>`.

Every process imports the services and views that call this module, and most never cut out an image (manage.py
commands, a web process whose worker runs elsewhere). So what it answers and refuses with (results.py) is imported
here as usual, and each other name from its module at its first use (PEP 562): numpy, Pillow's codecs, SciPy and
the model's runtime (about a second of CPU) load with the first cutout, or with the worker threads' warm-up.
"""

import importlib
from typing import TYPE_CHECKING

from removal.cutout import first_use
from removal.cutout.results import (
    ANIMATED_FORMATS,
    MASK_WORKING_SIDE,
    Cutout,
    ImageInfo,
    ImageRejected,
    ModelNotInstalled,
)

if TYPE_CHECKING:  # the names loaded at first use, for type checkers (ruff would drop them as unused)
    from removal.cutout.animations import check_animation, comes_out_animated  # noqa: F401
    from removal.cutout.decode import decode_image, decode_mask, inspect_image  # noqa: F401
    from removal.cutout.dispatch import cut_out, inspect_upload, is_video  # noqa: F401
    from removal.cutout.encode import encode_png  # noqa: F401
    from removal.cutout.sessions import (  # noqa: F401
        ModelSessions,
        best_partner,
        create_session,
        model_session,
        thread_session,
    )
    from removal.cutout.stills import masks_averaged, predict_mask, recompose, remove_background  # noqa: F401
    from removal.cutout.thumbnails import display_of_file, thumbnail_of_file  # noqa: F401

# The module each name loaded at its first use comes from (the imports above, for type checkers).
_LOADED_AT_FIRST_USE = {
    "removal.cutout.animations": ("check_animation", "comes_out_animated"),
    "removal.cutout.decode": ("decode_image", "decode_mask", "inspect_image"),
    "removal.cutout.dispatch": ("cut_out", "inspect_upload", "is_video"),
    "removal.cutout.encode": ("encode_png",),
    "removal.cutout.sessions": ("ModelSessions", "best_partner", "create_session", "model_session", "thread_session"),
    "removal.cutout.stills": ("masks_averaged", "predict_mask", "recompose", "remove_background"),
    "removal.cutout.thumbnails": ("display_of_file", "thumbnail_of_file"),
}
_MODULE_OF = {name: module for module, names in _LOADED_AT_FIRST_USE.items() for name in names}

__all__ = [
    "ANIMATED_FORMATS",
    "MASK_WORKING_SIDE",
    "Cutout",
    "ImageInfo",
    "ImageRejected",
    "ModelNotInstalled",
    *_MODULE_OF,
]


__getattr__ = first_use.loader(globals(), _MODULE_OF)


def load() -> None:
    """Import the modules behind these names now: what a worker thread does before its first job, which they would
    otherwise slow by a second."""
    for module in _LOADED_AT_FIRST_USE:
        importlib.import_module(module)


def __dir__() -> list[str]:
    return sorted(__all__)
