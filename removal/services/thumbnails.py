"""Thumbnails of an item's original and result, for the page's cards: stored beside the file they show.

A worker makes a page batch's result thumbnail with the cutout (removal.cutout.thumbnails, while the result
is encoded), and its original's from the photo it has decoded (so a reloaded batch of 12 MP photos, HEIC
above all, shows its cards without a decode per card); a reused result's item gets copies of the earlier
item's two (thumbnail_copy); any other (an original asked for before its item was processed, an edited or
animated result, an item made before thumbnails) is made on its first request and kept. Named after their
file, so a result kept to revert to keeps its thumbnail, and deleting a batch's or an item's folder deletes
them.

The original's "display" rendition (at most 2048 pixels a side) is made and kept the same way, for compare
and the editor in a browser that cannot show the upload itself (HEIC, TIFF).
"""

import threading
from collections.abc import Callable
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from removal.cutout import pipeline
from removal.errors import NotFound
from removal.models import Item
from removal.services.files import StorageUnavailable, storage_delete_quietly, storage_errors, storage_save

# One thumbnail made on request at a time in a process: a page of large PNG or TIFF originals would
# otherwise hold a full decode per visible card at once (200 MB for a 50 MP photo).
_making = threading.Lock()

# What each kind of rendition is made by, from a stored file's bytes (the image core loads at the first one made).
MAKERS: dict[str, Callable[..., bytes]] = {
    "thumbnail": lambda data, **limits: pipeline.thumbnail_of_file(data, **limits),
    "display": lambda data, **limits: pipeline.display_of_file(data, **limits),
}


def thumbnail_name(name: str, kind: str = "thumbnail") -> str:
    """Where the thumbnail (or another rendition of MAKERS) of the stored file `name` is kept."""
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}-{kind}.webp"))


def thumbnail_copy(name: str, copy: str) -> None:
    """Give the stored file `copy` the kept thumbnail of `name`, if it has one (a reused result: no decode)."""
    try:
        with default_storage.open(thumbnail_name(name), "rb") as kept:
            thumbnail_save(copy, kept.read())
    except storage_errors(StorageUnavailable):
        pass  # none kept, or storage refused: made on its first request instead


def thumbnail_save(name: str, data: bytes, kind: str = "thumbnail") -> str:
    """Keep `data` as the thumbnail (or `kind` of MAKERS) of the stored file `name`; its stored name."""
    wanted = thumbnail_name(name, kind)
    saved = storage_save(wanted, ContentFile(data))
    if saved != wanted:  # another request made it meanwhile: storage kept both, under two names
        storage_delete_quietly(saved)
    return wanted


def item_thumbnail(*, item: Item, of: str, kind: str = "thumbnail") -> str:
    """The stored name of the thumbnail (or `kind` of MAKERS) of the item's "original" or "result", made now if
    it is not kept yet.

    NotFound when there is none to make: no result yet, or a file that is not an image we decode (a video,
    a remove.bg zip).
    """
    if of == "result" and not item.result:
        raise NotFound(f"this item has no result (it is {item.status})")
    name = str((item.result if of == "result" else item.source).name)
    try:
        if default_storage.exists(thumbnail_name(name, kind)):  # kept: no wait behind a thumbnail being made
            return thumbnail_name(name, kind)
        if of == "original" and item.input_rejected:
            # Its worker could not decode it, and no rendition is kept of what fails: each request (not counted
            # against the rate limits) would decode it again, up to MAX_IMAGE_PIXELS, while holding _making.
            raise NotFound(f"no {kind} image can be made of this item's original: it could not be read as an image")
        with _making:
            return _thumbnail_made(item, name, of, kind)
    except FileNotFoundError:
        raise NotFound("the stored file is missing") from None
    except storage_errors() as exc:
        raise StorageUnavailable.after(exc) from exc


def _thumbnail_made(item: Item, name: str, of: str, kind: str) -> str:
    """item_thumbnail's work, for the stored file `name`: made now from it, unless the request this one
    waited for made it."""
    wanted = thumbnail_name(name, kind)
    if default_storage.exists(wanted):
        return wanted
    with default_storage.open(name, "rb") as stored:
        stored_bytes = stored.read()
    try:
        small = MAKERS[kind](stored_bytes, max_pixels=settings.MAX_IMAGE_PIXELS)
    except pipeline.ImageRejected:
        raise NotFound(f"no {kind} image can be made of this item's {of}: it is not a still image") from None
    saved = thumbnail_save(name, small, kind)
    if not Item.objects.filter(pk=item.pk).exists():  # deleted meanwhile, folder first: leave nothing behind
        storage_delete_quietly(saved)
        raise NotFound("no such item: it was deleted")
    return saved
