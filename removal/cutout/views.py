"""NumPy views of Pillow images' own pixels: `np.asarray(image)` copies the whole image (a 12 MP cutout's
48 MB, about 35 ms), and writing pixels back through Pillow copies them again.

Pillow exports an image's memory through the Arrow C data interface (Pillow's docs, "Arrow support")
when the image is one block of memory; its single-block allocator, switched on here for the process,
allocates every image so. NumPy does not read Arrow, so the data pointer is read from the exported
struct with ctypes, and the view holds the export (Pillow's capsule keeps the memory alive while it
lives). An image that cannot be exported (not one block, or a mode without 8-bit channels) is copied.
"""

import ctypes
from typing import Any

import numpy as np
from PIL import Image

Image.core.set_use_block_allocator(1)

# Modes whose pixels are one byte per channel: L one channel; RGBA four.
CHANNELS = {"L": 1, "RGBA": 4}


class _ArrowArray(ctypes.Structure):
    """The Arrow C data interface's ArrowArray (arrow.apache.org/docs/format/CDataInterface.html)."""


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class _Export:
    """What np.asarray reads: an image's memory, as Pillow exported it (for as long as this object lives)."""

    def __init__(self, image: Image.Image, *, writable: bool) -> None:
        self.capsules = image.__arrow_c_array__()  # ValueError when the image is not one block
        array = _ArrowArray.from_address(_capsule_pointer(self.capsules[1], b"arrow_array"))
        if array.n_children:  # several channels: a fixed-size list of bytes, the bytes its one child
            array = array.children[0].contents
        channels = CHANNELS[image.mode]
        shape = (image.height, image.width, channels) if channels > 1 else (image.height, image.width)
        if array.length != image.width * image.height * channels or not array.buffers[1]:
            raise ValueError("unexpected Arrow export")
        address = array.buffers[1] + array.offset
        self.__array_interface__: dict[str, Any] = {
            "shape": shape,
            "typestr": "|u1",
            "data": (address, not writable),
            "version": 3,
        }


def pixels(image: Image.Image) -> np.ndarray:
    """`image`'s pixels, read-only: an L or RGBA image's ((height, width) or (height, width, 4) uint8)
    without a copy; any other image, or one that cannot be exported, as a copy."""
    view = _view(image, writable=False) if image.mode in CHANNELS else None
    return np.asarray(image) if view is None else view


def writable_pixels(image: Image.Image) -> np.ndarray | None:
    """An L or RGBA image's pixels, as `pixels`, whose writes change the image; None when there is no
    such view (another mode, an image not in one block, or one sharing memory: Image.frombuffer's)."""
    return None if image.mode not in CHANNELS or image.readonly else _view(image, writable=True)


def _view(image: Image.Image, *, writable: bool) -> np.ndarray | None:
    image.load()
    try:
        return np.asarray(_Export(image, writable=writable))
    except ValueError:
        return None
