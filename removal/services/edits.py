"""Hand edits: a mask drawn on the page becomes the item's newest result; the model's is kept to revert to."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext

from removal.cutout import pipeline
from removal.cutout.options import Options
from removal.errors import NotFound
from removal.models import Item
from removal.services.files import (
    inspected_under_limits,
    item_prefix,
    storage_delete_quietly,
    storage_errors,
    storage_save,
    stored_sha256,
)
from removal.services.processing import background_of
from removal.services.purge import files_delete_later
from removal.services.queueing import announce_after_commit
from removal.services.thumbnails import thumbnail_name, thumbnail_save

Status = Item.Status


class ItemNotEditable(Exception):
    """The item has no still cutout to edit (not finished, failed, or an animation)."""


class ItemDeleted(Exception):
    """The item's owner deleted it while this request worked on it; nothing of the request was kept."""

    def __init__(self) -> None:
        super().__init__("no such item: it was deleted")


def locked_current(item: Item) -> Item:
    """The item's row as it is now, locked for the transaction; ItemDeleted when it is gone."""
    current = Item.objects.select_for_update().select_related("batch").filter(pk=item.pk).first()
    if current is None:
        raise ItemDeleted
    return current


def item_mask_save(*, item: Item, mask_png: bytes) -> Item:
    """A new revision of the item's result: its original composed with `mask_png` and the batch's options.

    The mask is in the original's frame (as displayed), at its size or scaled down by
    the same factor as far as the hand editor's copy; pipeline.decode_mask says what it accepts (ImageRejected
    otherwise). The model's result is kept, to revert to and to reuse.
    """
    options = _editable_options(item)
    mask = pipeline.decode_mask(mask_png, size=(item.width, item.height), max_pixels=settings.MAX_IMAGE_PIXELS)
    with _item_still_there(item), item.source.open("rb") as source:
        original = source.read()
    cutout = pipeline.recompose(
        original,
        mask,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        compress_level=settings.PNG_COMPRESS_LEVEL,
        options=options,
        background=background_of(item.batch),
        thumbnail=True,  # the page's card shows the edit at once
    )
    # Kept as the L image it means (whatever the PNG's mode was), for the next edit to start from.
    kept_mask = pipeline.encode_png(mask, compress_level=settings.PNG_COMPRESS_LEVEL)
    mask_name = storage_save(f"{item_prefix(item)}/mask-edited-{uuid.uuid4().hex[:8]}.png", ContentFile(kept_mask))
    name = storage_save(
        f"{item_prefix(item)}/cutout-edited-{uuid.uuid4().hex[:8]}.{cutout.extension}", ContentFile(cutout.data)
    )
    if cutout.thumbnail:
        thumbnail_save(name, cutout.thumbnail)
    foreground = list(cutout.foreground) if cutout.foreground else None
    try:
        return _item_revision_record(
            item, result=name, result_bytes=len(cutout.data), foreground=foreground, edited_mask=mask_name
        )
    except (ItemDeleted, ItemNotEditable):
        for saved in (name, thumbnail_name(name), mask_name):
            storage_delete_quietly(saved)
        raise


def item_mask_revert(*, item: Item) -> Item:
    """Back to the model's cutout (nothing changes when the item was never edited)."""
    _editable_options(item)
    if not item.model_result:
        return item
    return _item_revision_record(
        item,
        result=str(item.model_result.name),
        result_bytes=item.model_result_bytes,
        foreground=item.model_foreground,
        edited_mask="",
    )


def _check_finished(item: Item) -> None:
    if item.status != Status.DONE:
        raise ItemNotEditable(
            gettext("this item is %(status)s; only a finished cutout can be edited")
            % {"status": item.get_status_display()}
        )


def _editable_options(item: Item) -> Options:
    _check_finished(item)
    options = Options.from_json(item.batch.options)
    if options.format in pipeline.ANIMATED_FORMATS and _source_is_animated(item):
        raise ItemNotEditable(gettext("only still cutouts can be edited, not animations or videos"))
    return options


@contextmanager
def _item_still_there(item: Item) -> Iterator[None]:
    """A storage error in the block is ItemDeleted when the item's row is gone: its owner deleted it, files
    first, since the request found it; NotFound when the row stands but storage has lost the file (as a download
    of it says), not a server error."""
    try:
        yield
    except storage_errors() as exc:
        if not Item.objects.filter(pk=item.pk).exists():
            raise ItemDeleted from None
        if isinstance(exc, FileNotFoundError):
            raise NotFound(gettext("a stored file of this item is missing, so it cannot be edited")) from None
        raise


def _source_is_animated(item: Item) -> bool:
    with _item_still_there(item), item.source.open("rb") as source:
        info = inspected_under_limits(source)
    return info.animated or info.video


def _item_revision_record(item: Item, *, result: str, result_bytes: Any, foreground: Any, edited_mask: str) -> Item:
    """Make `result` the item's newest revision, keeping the model's; the replaced edit's files go."""
    with _item_still_there(item):
        result_sha256 = stored_sha256(result)  # for the manifest; read before the row is locked
    with transaction.atomic():
        current = locked_current(item)
        _check_finished(current)  # an improvement may have queued it since the request read it
        model_result = str(current.model_result.name) or str(current.result.name)
        replaced = str(current.result.name)
        current.model_result.name = "" if result == model_result else model_result
        if not current.model_result:
            current.model_result_bytes = current.model_foreground = None
        elif replaced == model_result:
            current.model_result_bytes, current.model_foreground = current.result_bytes, current.foreground
        current.result.name, current.result_bytes, current.foreground = result, result_bytes, foreground
        current.result_sha256 = result_sha256
        current.edits += 1
        current.reviewed = True  # a person looked at it; reverting later does not undo that
        replaced_mask, current.edited_mask.name = str(current.edited_mask.name), edited_mask
        # An earlier improvement's failure said the item kept the cutout it had: no longer so.
        error_fields = current.error_cleared()
        current.save(
            update_fields=[
                "result",
                "result_bytes",
                "result_sha256",
                "foreground",
                "model_result",
                "model_result_bytes",
                "model_foreground",
                "edits",
                "edited_mask",
                "reviewed",
                *error_fields,
            ]
        )
        gone = (replaced, thumbnail_name(replaced)) if replaced not in (model_result, result) else ()
        files_delete_later([*gone, replaced_mask])
        announce_after_commit(current)
    return current
