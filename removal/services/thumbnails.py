"""Thumbnails of an item's original and result, for the page's cards: stored beside the file they show.

A worker makes a page batch's result thumbnail with the cutout (removal.cutout.thumbnails, while the result
is encoded); any other (an original, an edited, reused or animated result, an item made before thumbnails)
is made on its first request and kept. Named after their file, so a result kept to revert to keeps its
thumbnail, and deleting a batch's or an item's folder deletes them.
"""

from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from removal.cutout import pipeline, thumbnails
from removal.errors import NotFound
from removal.models import Item
from removal.services.files import storage_delete_quietly, storage_save

Status = Item.Status


def thumbnail_name(name: str) -> str:
    """Where the thumbnail of the stored file `name` is kept."""
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}-thumbnail.webp"))


def thumbnail_save(name: str, data: bytes) -> str:
    """Keep `data` as the thumbnail of the stored file `name`; its stored name."""
    wanted = thumbnail_name(name)
    saved = storage_save(wanted, ContentFile(data))
    if saved != wanted:  # another request made it meanwhile: storage kept both, under two names
        storage_delete_quietly(saved)
    return wanted


def item_thumbnail(*, item: Item, of: str) -> str:
    """The stored name of the thumbnail of the item's "original" or "result", made now if it is not kept yet.

    NotFound when there is none to make: no result yet, or a file that is not an image we decode (a video,
    a remove.bg zip).
    """
    if of == "result" and not item.result:
        raise NotFound(f"this item has no result (it is {item.status})")
    name = str((item.result if of == "result" else item.source).name)
    wanted = thumbnail_name(name)
    if default_storage.exists(wanted):
        return wanted
    try:
        with default_storage.open(name, "rb") as stored:
            data = stored.read()
    except FileNotFoundError:
        raise NotFound("the stored file is missing") from None
    try:
        small = thumbnails.thumbnail_of_file(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    except pipeline.ImageRejected:
        raise NotFound(f"no thumbnail can be made of this item's {of}: it is not a still image") from None
    saved = thumbnail_save(name, small)
    if not Item.objects.filter(pk=item.pk).exists():  # deleted meanwhile, folder first: leave nothing behind
        storage_delete_quietly(saved)
        raise NotFound("no such item: it was deleted")
    return saved
