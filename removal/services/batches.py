"""Batches: every front door's uploads stored and queued, or refused by name with nothing kept.

`batch_submit` is the one entry (the batch API, the page, and as a hidden BGREMOVE batch
whose jobs go first, /bgremove and /v1.0/removebg through `image_submit`); `batch_rerun`
queues a batch's uploads again with other options. Identical bytes and options reuse the
owner's earlier result.
"""

import dataclasses
import functools
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from accounts.services import account_locked
from removal import events, selectors
from removal.cutout import pipeline
from removal.cutout.options import Options
from removal.errors import Conflict, ServiceUnavailable, TooManyRequests
from removal.models import Batch, Item
from removal.services.files import (
    StorageUnavailable,
    batch_folder,
    batch_full_error,
    display_filename,
    extension_of,
    item_prefix,
    storage_delete_quietly,
    storage_errors,
    storage_save,
    upload_sha256,
)
from removal.services.queueing import (
    announce_after_commit,
    enqueue_processing,
    own_queue_waiting,
    whole_queue_room_held,
)
from removal.services.refusals import RejectedFile, inspected, rejected_json
from removal.services.reuse import result_reused
from removal.services.thumbnails import thumbnail_name
from removal.services.usage import usage_counted
from removal.services.webhooks import notify_if_batch_finished
from removal.translated import in_language

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = Item.Status


class NothingAccepted(Exception):
    """No file of a request could be queued; `rejected` says why for each (nothing was kept)."""

    def __init__(self, rejected: list[RejectedFile]) -> None:
        if not rejected:
            message = gettext("this batch has no images to run again")
        elif len(rejected) == 1:
            message = f"{rejected[0].filename}: {rejected[0].error}"
        else:
            message = in_language(
                gettext_noop("none of the %(count)s files could be accepted; see 'rejected'"), {"count": len(rejected)}
            )
        super().__init__(message)
        self.rejected = rejected

    def rejected_json(self) -> list[dict[str, str]]:
        return rejected_json(self.rejected)


def batch_submit(
    *,
    owner: "User",
    files: list[Any],
    options: Options,
    background: Any = None,
    callback_url: str = "",
    kind: str = Batch.Kind.UPLOAD,
    first_position: int | None = None,
    idempotency_key: str = "",
    name: str = "",
) -> tuple[Batch, list[Item], list[RejectedFile]]:
    """The one entry of every front door: a batch of `files` with `options`, each file stored and queued.

    Raises NothingAccepted (and keeps nothing) when no file can be used. The batch API sends many files; /bgremove
    and /v1.0/removebg one, as a hidden batch of kind BGREMOVE whose jobs go first. `first_position`: see
    batch_add_files; `idempotency_key`: Batch.idempotency_key; `name`: Batch.name.
    """
    with _kept_only_if_accepted() as stored, transaction.atomic():
        batch = batch_create(
            owner=owner,
            options=options,
            callback_url=callback_url,
            background=background,
            kind=kind,
            idempotency_key=idempotency_key,
            name=name,
        )
        stored.append(batch)
        items, rejected = batch_add_files(batch=batch, files=files, first_position=first_position)
        if not items:
            raise NothingAccepted(rejected)  # rolls the empty batch back
    return batch, items, rejected


@contextmanager
def _kept_only_if_accepted() -> Iterator[list[Batch | Item]]:
    """A list for the rows a request stores files for (its batch's background, its items), as they are stored; the
    files deleted when the request is refused or fails: its rows are rolled back, and nothing of it stays behind."""
    stored: list[Batch | Item] = []
    try:
        yield stored
    except BaseException:
        _stored_files_deleted(stored)
        raise


IDEMPOTENT_RETRY_SECONDS = 1  # the first request's batch is made by then, or nearly: the retry finds it


def batch_create(
    *,
    owner: "User",
    options: Options | None = None,
    callback_url: str = "",
    background: Any = None,
    kind: str = Batch.Kind.UPLOAD,
    idempotency_key: str = "",
    name: str = "",
) -> Batch:
    """A new batch; `background` (a File, already checked to be an image) is kept for compositing. Conflict when
    a request with the same `idempotency_key` made one meanwhile (the same creation sent twice at once)."""
    options = options or Options()
    batch = Batch(owner=owner, callback_url=callback_url, kind=kind, idempotency_key=idempotency_key, name=name)
    if background is not None:
        options = dataclasses.replace(options, bg_image_sha256=upload_sha256(background))
        name = f"{batch_folder(batch)}background{PurePosixPath(background.name or '').suffix[:8]}"
        batch.bg_image.name = storage_save(name, background)
    batch.options = options.to_json()
    try:
        with transaction.atomic():
            batch.save()
    except IntegrityError:
        if batch.bg_image.name:
            storage_delete_quietly(batch.bg_image.name)
        making = "a request with this Idempotency-Key is making its batch now; send it again"
        raise Conflict(making, headers={"Retry-After": str(IDEMPOTENT_RETRY_SECONDS)}) from None
    return batch


def batch_rename(*, batch: Batch, name: str) -> Batch:
    """The batch under a new `name` ("" for none); its followers are told."""
    batch.name = name
    batch.save(update_fields=["name"])
    transaction.on_commit(functools.partial(events.batch_renamed, batch_id=batch.pk, name=name))
    return batch


def batch_add_files(
    *, batch: Batch, files: list[Any], first_position: int | None = None, room_held_by_caller: bool = False
) -> tuple[list[Item], list[RejectedFile]]:
    """Store each acceptable upload and queue it; explain each refused one.

    `files` are Django UploadedFile objects (anything with .name, .size and a
    file interface). The whole upload is stored before its job exists, so a job
    never points at a missing file. With `first_position`, the files are the batch's
    from that position on, in their order (Item.position): the batch lists them so
    whatever order their requests arrive in. `room_held_by_caller`: files of a request that holds its room in the
    queue itself (a rerun's chunks: batch_rerun), not refused for the room its earlier chunks took.
    """
    room = settings.MAX_ITEMS_PER_BATCH - batch.items.count()
    options = Options.from_json(batch.options)
    items, rejected = _stored_items(batch, files, options, room=room, first_position=first_position)
    try:
        made, no_room = _queued(batch, items, preview=options.size_preview, room_held=not room_held_by_caller)
    except (DatabaseError, TooManyRequests, ServiceUnavailable) as exc:  # nothing of a refused request stays behind
        _stored_files_deleted(items)
        if not isinstance(exc, IntegrityError):  # counted first by another request of the owner's; database gone
            raise
        # The batch was deleted meanwhile (DELETE /api/v1/batches/<id> at the same moment).
        raise BatchDeleted("no such batch: it was deleted while these files were being added") from None
    _stored_files_deleted([item for item in items if item not in made])  # past the room, or sent before
    rejected += [RejectedFile(filename=item.filename, error=batch_full_error()) for item in no_room]
    return made, rejected


def _stored_items(
    batch: Batch, files: list[Any], options: Options, *, room: int, first_position: int | None
) -> tuple[list[Item], list[RejectedFile]]:
    """batch_add_files' first step: each acceptable upload stored, as an unsaved Item; each refused one explained.
    Storage gone midway deletes what was stored and raises."""
    items: list[Item] = []
    rejected: list[RejectedFile] = []
    for index, upload in enumerate(files):
        filename = display_filename(upload.name)
        info = inspected(upload, filename=filename, room=room - len(items), options=options)
        if isinstance(info, RejectedFile):
            rejected.append(info)
            continue
        item = Item(
            id=uuid.uuid4(),
            batch=batch,
            filename=filename,
            source_bytes=upload.size,
            source_sha256=upload_sha256(upload),
            width=info.width,
            height=info.height,
            position=None if first_position is None else first_position + index,
        )
        try:
            item.source.name = storage_save(f"{item_prefix(item)}/source.{extension_of(info)}", upload)
        except StorageUnavailable:
            for saved in items:  # nothing of a refused request stays behind
                storage_delete_quietly(str(saved.source.name))
            raise
        items.append(item)
    return items, rejected


def _stored_files_deleted(rows: Iterable[Batch | Item]) -> None:
    for row in rows:
        for name in row.stored_names():  # and the thumbnails a repeat's reuse copied beside them
            storage_delete_quietly(name)
            storage_delete_quietly(thumbnail_name(name))


class BatchDeleted(Exception):
    """Files were being added to a batch that its owner deleted at the same moment; none was kept."""


def _queued(batch: Batch, items: list[Item], *, preview: bool, room_held: bool) -> tuple[list[Item], list[Item]]:
    """The stored items inserted and their jobs queued in one transaction (a repeat finished at once instead): the
    items the request made, in its order, and those past the batch's room, which requests side by side took.

    The room is counted again with the batch's row locked (SQLite: the IMMEDIATE transaction): counted only as each
    request began, two uploads side by side each found room for one last file (so is the owner's part of the queue,
    its row locked: queueing.own_queue_waiting, and the whole queue, last: queueing.whole_queue_room_held). Under
    the same lock, a file the batch holds at its `file_position` with the same bytes is a request sent again (its
    reply lost: a retry, a connection cut): it is given the item its first sending made, not a second cutout and
    credit."""
    now = timezone.now()
    with transaction.atomic():
        account_locked(user_id=batch.owner_id)  # uploads, reruns and improvements count its part of the queue in turn
        Batch.objects.select_for_update().filter(pk=batch.pk).first()
        sent_before = selectors.items_sent_before(batch, items)
        fresh = [item for item in items if item.id not in sent_before]
        room = max(0, settings.MAX_ITEMS_PER_BATCH - batch.items.count())
        fresh, no_room = fresh[:room], fresh[room:]
        waiting = own_queue_waiting(batch.owner_id, room_held=room_held) if fresh else 0
        for item in fresh:
            item.queued_at, item.counted_on = now, now.date()
            if not result_reused(item=item, now=now):
                item.task_id = enqueue_processing(item.id, kind=batch.kind, waiting_ahead=waiting)
                waiting += 1
        if fresh:
            Item.objects.bulk_create(fresh)
            usage_counted(batch=batch, images=len(fresh), preview=preview, day=now.date())
            announce_after_commit(*fresh)
        if any(item.cached for item in fresh):  # the batch may be finished already
            transaction.on_commit(functools.partial(notify_if_batch_finished, batch))
        if room_held:  # last: the whole queue's lock is held for the count and the commit only
            whole_queue_room_held(queued_now=sum(not item.cached for item in fresh))
    return [sent_before.get(item.id, item) for item in items if item not in no_room], no_room


def image_submit(*, owner: "User", upload: Any, options: Options | None = None, background: Any = None) -> Item:
    """batch_submit for one image whose caller waits (/bgremove, /v1.0/removebg): its jobs go first. `upload` is a
    Django File (an UploadedFile, or a ContentFile with a name). Raises pipeline.ImageRejected when it is not an image
    we accept."""
    try:
        _, items, _ = batch_submit(
            owner=owner, files=[upload], options=options or Options(), background=background, kind=Batch.Kind.BGREMOVE
        )
    except NothingAccepted as refused:
        first = refused.rejected[0]
        raise pipeline.ImageRejected(first.error, option=first.option) from None
    return items[0]


RERUN_CHUNK = 50


def batch_rerun(
    *, batch: Batch, options: Options, callback_url: str = "", background: Any = None
) -> tuple[Batch, list[Item], list[RejectedFile]]:
    """A new batch of the same uploads with other options, under the same name; nothing is uploaded again.

    The sources are copied (so either batch can expire alone); identical
    bytes-and-options are reused as usual. Raises NothingAccepted (and keeps
    nothing) when no image could be queued again.
    """
    with _kept_only_if_accepted() as stored, transaction.atomic():
        new_batch, items, rejected = _batch_rerun(
            batch=batch, options=options, callback_url=callback_url, background=background, stored=stored
        )
        if not items:
            raise NothingAccepted(rejected)
    return new_batch, items, rejected


def _batch_rerun(
    *, batch: Batch, options: Options, callback_url: str, background: Any, stored: list[Batch | Item]
) -> tuple[Batch, list[Item], list[RejectedFile]]:
    """batch_rerun's work; `stored` lists each row whose files it stored, for a refusal at a later chunk to delete
    those the earlier chunks stored (_kept_only_if_accepted)."""
    new_batch = batch_create(
        owner=batch.owner, options=options, callback_url=callback_url, background=background, name=batch.name
    )
    stored.append(new_batch)
    sources = list(batch.items.in_sent_order().values_list("source", "filename"))
    account_locked(user_id=batch.owner_id)  # one room in the owner's part of the queue for all the chunks
    own_queue_waiting(batch.owner_id)
    items: list[Item] = []
    rejected: list[RejectedFile] = []
    for start in range(0, len(sources), RERUN_CHUNK):
        files = []
        try:
            for source, filename in sources[start : start + RERUN_CHUNK]:
                try:
                    files.append(File(default_storage.open(source, "rb"), name=filename))
                except storage_errors():
                    rejected.append(RejectedFile(filename=filename, error="the original upload is no longer stored"))
            added, refused = batch_add_files(
                batch=new_batch, files=files, first_position=start, room_held_by_caller=True
            )
            items += added
            stored += added
            rejected += refused
        finally:
            for file in files:
                file.close()
    # Last, as an upload's: the whole queue's lock is not held while the chunks' files are stored.
    whole_queue_room_held(queued_now=sum(not item.cached for item in items))
    return new_batch, items, rejected
