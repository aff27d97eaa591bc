"""Writes: the only code that changes batches and items.

The life of an item: `batch_add_files` stores the upload and enqueues one job
(queued) -> a worker's `item_process` claims it with a conditional update
(processing, under a lease it keeps renewing) -> the outcome is recorded only by
the holder of the current claim (done / failed). A job that raised is retried
with backoff; an item whose worker died is re-queued by `items_requeue_stale`
once its lease runs out. So no accepted image is lost and none is recorded twice.
"""

import copy
import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.utils.text import get_valid_filename
from django_tasks_db.models import DBTaskResult
from zipstream import ZipStream

from accounts.services import webhook_secret_for
from removal import events, fetch, metrics, pipeline, selectors, serializers
from removal.models import Batch, Item, StoredImage, WebhookDelivery
from removal.options import Options, not_applicable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

Status = Item.Status
STORAGE_CHUNK_BYTES = 256 * 1024
# Every zip ends with this member, listing each item of the batch (failed ones too).
MANIFEST_NAME = "manifest.json"
WINDOWS_RESERVED_NAMES = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{n}" for n in range(1, 10)),
    *(f"LPT{n}" for n in range(1, 10)),
}


class WorkerLost(Exception):
    """Recorded on a job whose worker stopped (died, or lost its lease) before finishing it.

    Never raised: items_requeue_stale writes its path on the abandoned django-tasks-db
    row, where a job that really failed would carry its own exception's.
    """


class StorageUnavailable(Exception):
    """Storage refused a write (disk full, bucket unreachable); the request can be retried."""


def _storage_save(name: str, content: Any) -> str:
    try:
        return default_storage.save(name, content)
    except (OSError, BotoCoreError, ClientError) as exc:
        logger.error("storage refused to save %s: %s", name, exc)
        raise StorageUnavailable(f"storage is unavailable ({exc.__class__.__name__}); try again shortly") from exc


def _storage_delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except (OSError, BotoCoreError, ClientError):
        logger.warning("could not delete %s after a failed request", name)


@dataclass(frozen=True)
class RejectedFile:
    filename: str
    error: str


class NothingAccepted(Exception):
    """No file of a request could be queued; `rejected` says why for each (nothing was kept)."""

    def __init__(self, rejected: list[RejectedFile]) -> None:
        if not rejected:
            message = "this batch has no images to run again"
        elif len(rejected) == 1:
            message = f"{rejected[0].filename}: {rejected[0].error}"
        else:
            message = f"none of the {len(rejected)} files could be accepted; see 'rejected'"
        super().__init__(message)
        self.rejected = rejected

    def rejected_json(self) -> list[dict[str, str]]:
        return rejected_json(self.rejected)


def rejected_json(rejected: list[RejectedFile]) -> list[dict[str, str]]:
    return [{"filename": refusal.filename, "error": refusal.error} for refusal in rejected]


def batch_submit(
    *,
    owner: "User",
    files: list[Any],
    options: Options,
    background: Any = None,
    callback_url: str = "",
    kind: str = Batch.Kind.UPLOAD,
) -> tuple[Batch, list[Item], list[RejectedFile]]:
    """The one entry of every front door: a batch of `files` with `options`, each file stored and queued.

    Raises NothingAccepted (and keeps nothing) when no file can be used. The batch API
    sends many files; /bgremove and /v1.0/removebg one, as a hidden batch of kind BGREMOVE
    whose jobs go first.
    """
    with transaction.atomic():
        batch = batch_create(owner=owner, options=options, callback_url=callback_url, background=background, kind=kind)
        items, rejected = batch_add_files(batch=batch, files=files)
        if not items:
            raise NothingAccepted(rejected)  # rolls the empty batch back
    return batch, items, rejected


def batch_create(
    *,
    owner: "User",
    options: Options | None = None,
    callback_url: str = "",
    background: Any = None,
    kind: str = Batch.Kind.UPLOAD,
) -> Batch:
    """A new batch; `background` (a File, already checked to be an image) is kept for compositing."""
    options = options or Options()
    batch = Batch(owner=owner, callback_url=callback_url, kind=kind)
    if background is not None:
        options = dataclasses.replace(options, bg_image_sha256=_sha256(background))
        name = f"users/{owner.pk}/batches/{batch.pk}/background{PurePosixPath(background.name or '').suffix[:8]}"
        batch.bg_image.name = _storage_save(name, background)
    batch.options = options.to_json()
    batch.save()
    return batch


def batch_add_files(*, batch: Batch, files: list[Any]) -> tuple[list[Item], list[RejectedFile]]:
    """Store each acceptable upload and queue it; explain each refused one.

    `files` are Django UploadedFile objects (anything with .name, .size and a
    file interface). The whole upload is stored before its job exists, so a job
    never points at a missing file.
    """
    room = settings.MAX_ITEMS_PER_BATCH - batch.items.count()
    options = Options.from_json(batch.options)
    accepted: list[tuple[Item, Any]] = []
    rejected: list[RejectedFile] = []
    for upload in files:
        filename = display_filename(upload.name)
        error = _upload_error(upload, room - len(accepted))
        if error is None:
            try:
                info = pipeline.inspect_upload(
                    upload,
                    max_pixels=settings.MAX_IMAGE_PIXELS,
                    max_frames=settings.MAX_ANIMATION_FRAMES,
                    max_video_seconds=settings.MAX_VIDEO_SECONDS,
                )
            except pipeline.ImageRejected as exc:
                error = str(exc)
            else:
                error = _options_not_applicable(info, options) or _animation_error(upload, info, options)
        if error is not None:
            rejected.append(RejectedFile(filename=filename, error=error))
            continue
        item = Item(
            id=uuid.uuid4(),
            batch=batch,
            filename=filename,
            source_bytes=upload.size,
            source_sha256=_sha256(upload),
            width=info.width,
            height=info.height,
        )
        try:
            item.source.name = _storage_save(f"{_item_prefix(item)}/source.{_extension(info)}", upload)
        except StorageUnavailable:
            for saved, _ in accepted:  # nothing of a refused request stays behind
                _storage_delete_quietly(str(saved.source.name))
            raise
        accepted.append((item, upload))

    items = [item for item, _ in accepted]
    now = timezone.now()
    with transaction.atomic():
        for item in items:
            item.queued_at = now
            if not _reuse_earlier_result(item, now):
                item.task_id = _enqueue_processing(item.id, kind=batch.kind)
        Item.objects.bulk_create(items)
        for item in items:
            _announce_after_commit(item)
        if any(item.cached for item in items):  # the batch may be finished already
            transaction.on_commit(functools.partial(_notify_if_batch_finished, batch.pk))
    return items, rejected


def _options_not_applicable(info: pipeline.ImageInfo, options: Options) -> str | None:
    """Options that cannot apply to this input (roi on an animation...) are refused by name, not ignored."""
    if not pipeline.comes_out_animated(info, options, max_frames=settings.MAX_ANIMATION_FRAMES):
        return None
    names = not_applicable(options, video=info.video)
    if not names:
        return None
    kind = "a video" if info.video else "an animation"
    them = "it" if len(names) == 1 else "them"
    return f"{', '.join(names)}: cannot apply to {kind} (every frame is cut out as it is); leave {them} out"


def _animation_error(upload: Any, info: pipeline.ImageInfo, options: Options) -> str | None:
    """Why an animation that comes out animated is refused (frames, pixels in all), as its worker would; or None."""
    if info.video or not pipeline.comes_out_animated(info, options, max_frames=settings.MAX_ANIMATION_FRAMES):
        return None
    try:
        pipeline.check_animation(upload, max_pixels=settings.MAX_IMAGE_PIXELS, max_frames=settings.MAX_ANIMATION_FRAMES)
    except pipeline.ImageRejected as exc:
        return str(exc)
    return None


def _sha256(upload: Any) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    while chunk := upload.read(STORAGE_CHUNK_BYTES):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _reuse_earlier_result(item: Item, now: Any) -> bool:
    """Finish `item` from the owner's earlier result for the same bytes and options, if there is one.

    The result is copied, not shared, so deleting either batch never breaks the other.
    """
    wanted = Options.from_json(item.batch.options).result_key()
    earlier = next(
        (
            done
            for done in selectors.results_for_bytes(item.batch.owner_id, item.source_sha256)
            if Options.from_json(done.batch.options).result_key() == wanted
        ),
        None,
    )
    if earlier is None:
        return False
    # A hand-edited result fits that one photo's edit: the model's own is what is reused.
    model_result = earlier.model_result if earlier.model_result else earlier.result
    suffix = PurePosixPath(str(model_result.name)).suffix
    try:
        with model_result.open("rb") as result:
            item.result.name = _storage_save(f"{_item_prefix(item)}/cutout-reused{suffix}", result)
        # An edited item's sha256 is its edit's: the model's result is hashed here.
        result_sha256 = earlier.result_sha256 if not earlier.model_result else _stored_sha256(item.result.name)
    except (OSError, BotoCoreError, ClientError, StorageUnavailable):
        return False  # the earlier result is unreadable: process this one afresh
    if earlier.mask:
        try:
            with earlier.mask.open("rb") as mask:
                item.mask.name = _storage_save(f"{_item_prefix(item)}/mask-reused.png", mask)
        except (OSError, BotoCoreError, ClientError, StorageUnavailable):
            pass  # the cutout stands; only a hand edit would miss its starting mask
    item.status, item.cached = Status.DONE, True
    if earlier.model_result:
        item.result_bytes, item.foreground = earlier.model_result_bytes, earlier.model_foreground
    else:
        item.result_bytes, item.foreground = earlier.result_bytes, earlier.foreground
    item.result_sha256, item.model = result_sha256, earlier.model
    item.started_at = item.finished_at = now
    item.processing_ms = 0
    return True


def _stored_sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as stored:
        while chunk := stored.read(STORAGE_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _upload_error(upload: Any, room: int) -> str | None:
    if room <= 0:
        return f"the batch is full ({settings.MAX_ITEMS_PER_BATCH} files at most); start a new batch"
    if upload.size == 0:
        return "the file is empty"
    return upload_size_error(upload.size)


def upload_size_error(size: int) -> str | None:
    """Why a file of `size` bytes is refused, or None: the one upload-size rule of every front door."""
    if size > settings.MAX_UPLOAD_BYTES:
        return f"the file is {size / 1e6:.1f} MB; the limit is {settings.MAX_UPLOAD_BYTES / 1e6:g} MB per file"
    return None


def _extension(info: pipeline.ImageInfo) -> str:
    return {"JPEG": "jpg", "MPO": "jpg"}.get(info.format, info.format.lower())


def _item_prefix(item: Item) -> str:
    # Per-user prefixes keep one account's files together (lifecycle rules,
    # deletion); ids are random, so paths cannot be guessed.
    return f"users/{item.batch.owner_id}/batches/{item.batch_id}/{item.id}"


def display_filename(name: str | None) -> str:
    """The uploaded name without any directory part, trimmed to fit the column."""
    base = PurePosixPath((name or "").replace("\\", "/").replace("\x00", "")).name
    return (base or "image")[:255]


# A /bgremove caller waits on its one image, so it goes ahead of bulk batches.
JOB_PRIORITY = {Batch.Kind.UPLOAD: 0, Batch.Kind.BGREMOVE: 10}


def _enqueue_processing(item_id: uuid.UUID, *, kind: str, delay_seconds: float = 0) -> uuid.UUID:
    from removal.tasks import process_item

    job = process_item.using(priority=JOB_PRIORITY[Batch.Kind(kind)])
    if delay_seconds:
        job = job.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    return uuid.UUID(str(job.enqueue(str(item_id)).id))


def _announce_after_commit(item: Item) -> None:
    """Publish the item as it is now, once the transaction commits.

    The state is captured here: by the time the commit runs, a worker may
    already have moved the item on, and every state must reach the page.
    """
    snapshot = copy.copy(item)
    transaction.on_commit(lambda: events.item_changed(item_id=item.id, state=snapshot))


def item_process(*, item_id: str) -> None:
    """Process one item if it is still waiting (or its previous worker is gone)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimable = Q(status=Status.QUEUED) | Q(status=Status.PROCESSING, lease_until__lt=now)
    claimed = Item.objects.filter(claimable, pk=item_id).update(
        status=Status.PROCESSING,
        claim_token=token,
        lease_until=now + timedelta(seconds=settings.ITEM_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        started_at=now,
    )
    if claimed != 1:
        return  # finished already, or another worker holds a live claim
    item = Item.objects.select_related("batch").get(pk=item_id)
    events.item_changed(item_id=item.id)

    if item.attempts > settings.ITEM_MAX_ATTEMPTS:
        _item_finish(
            item,
            token,
            status=Status.FAILED,
            error=f"processing stopped unexpectedly {item.attempts - 1} times; giving up on this image",
        )
        return

    started = time.monotonic()
    try:
        with _lease_renewed(item.pk, token):
            cutout = _cut_out(item)
        result_name, mask_name = _cutout_saved(item, cutout, token)
    except pipeline.ImageRejected as exc:
        _item_finish(item, token, status=Status.FAILED, error=str(exc), input_rejected=True)
        return
    except Exception as exc:
        logger.exception("processing item %s failed (attempt %s)", item.pk, item.attempts)
        _item_retry_or_fail(item, token, error=f"processing failed: {exc}")
        return

    recorded = _item_finish(
        item,
        token,
        status=Status.DONE,
        result=result_name,
        result_bytes=len(cutout.data),
        result_sha256=hashlib.sha256(cutout.data).hexdigest(),
        model=_model_of(item.batch),
        foreground=list(cutout.foreground) if cutout.foreground else None,
        mask=mask_name,
        processing_ms=int((time.monotonic() - started) * 1000),
    )
    if not recorded:
        for name in filter(None, (result_name, mask_name)):
            default_storage.delete(name)


def _cutout_saved(item: Item, cutout: pipeline.Cutout, token: str) -> tuple[str, str]:
    """The stored names of the cutout and of its mask ("" without one).

    A fresh name per claim: a stale worker can never overwrite the result that the
    current claim holder recorded.
    """
    result_name = default_storage.save(
        f"{_item_prefix(item)}/cutout-{token[:8]}.{cutout.extension}", ContentFile(cutout.data)
    )
    if not cutout.mask_png:
        return result_name, ""
    return result_name, default_storage.save(f"{_item_prefix(item)}/mask-{token[:8]}.png", ContentFile(cutout.mask_png))


def _cut_out(item: Item) -> pipeline.Cutout:
    """The item's source through the pipeline, with its batch's options, model and background."""
    options = Options.from_json(item.batch.options)
    model = _model_of(item.batch)
    with item.source.open("rb") as source:
        return pipeline.cut_out(
            source.read(),
            session=pipeline.model_session(model, settings.U2NET_HOME, solo_threads=settings.ORT_SOLO_THREADS),
            partner=pipeline.best_partner(options.quality, model, settings.QUALITY_BEST_PARTNER, settings.U2NET_HOME),
            max_pixels=settings.MAX_IMAGE_PIXELS,
            compress_level=settings.PNG_COMPRESS_LEVEL,
            options=options,
            max_frames=settings.MAX_ANIMATION_FRAMES,
            on_frame=functools.partial(events.item_progress, item),
            background=_background_of(item.batch),
        )


def _model_of(batch: Batch) -> str:
    return Options.from_json(batch.options).model or settings.REMBG_MODEL


def _background_of(batch: Batch) -> Any:
    if not batch.bg_image:
        return None
    with batch.bg_image.open("rb") as stored:
        return pipeline.decode_image(stored.read(), max_pixels=settings.MAX_IMAGE_PIXELS)


def _item_finish(item: Item, token: str, *, status: str, **fields: Any) -> bool:
    """Record the outcome if `token` still holds the claim; True when recorded."""
    recorded = Item.objects.filter(pk=item.pk, status=Status.PROCESSING, claim_token=token).update(
        status=status, finished_at=timezone.now(), lease_until=None, **fields
    )
    if recorded:
        events.item_changed(item_id=item.pk)
        processing_ms = fields.get("processing_ms")
        metrics.item_finished(
            status=status, model=_model_of(item.batch), seconds=processing_ms / 1000 if processing_ms else None
        )
        _notify_if_batch_finished(item.batch_id)
    return recorded == 1


def _item_retry_or_fail(item: Item, token: str, *, error: str) -> None:
    if item.attempts >= settings.ITEM_MAX_ATTEMPTS:
        _item_finish(item, token, status=Status.FAILED, error=f"{error} (gave up after {item.attempts} attempts)")
        return
    with transaction.atomic():
        requeued = Item.objects.filter(pk=item.pk, status=Status.PROCESSING, claim_token=token).update(
            status=Status.QUEUED, claim_token="", lease_until=None, queued_at=timezone.now()
        )
        if requeued:
            task_id = _enqueue_processing(item.pk, kind=item.batch.kind, delay_seconds=2**item.attempts)
            Item.objects.filter(pk=item.pk).update(task_id=task_id)
            item.status, item.task_id = Status.QUEUED, task_id
            _announce_after_commit(item)


@contextmanager
def _lease_renewed(item_id: uuid.UUID, token: str) -> Iterator[None]:
    """Keep extending the item's lease from a helper thread while the body runs."""
    stop = threading.Event()
    lease = timedelta(seconds=settings.ITEM_LEASE_SECONDS)

    def renew() -> None:
        try:
            while not stop.wait(settings.ITEM_LEASE_SECONDS / 3):
                Item.objects.filter(pk=item_id, status=Status.PROCESSING, claim_token=token).update(
                    lease_until=timezone.now() + lease
                )
        finally:
            connection.close()  # this thread's own connection

    renewer = threading.Thread(target=renew, name=f"lease-{item_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def items_requeue_stale() -> int:
    """Queue again the items whose worker died; returns how many were re-queued.

    Two cases: a processing item whose lease ran out (the worker stopped
    renewing it), and a queued item whose job is no longer waiting to run (a
    worker took the job and died before claiming the item).
    """
    now = timezone.now()
    expired = Item.objects.filter(status=Status.PROCESSING, lease_until__lt=now)
    orphaned = Item.objects.filter(
        status=Status.QUEUED, queued_at__lt=now - timedelta(seconds=settings.ITEM_LEASE_SECONDS)
    ).exclude(task_id__in=DBTaskResult.objects.filter(status=TaskResultStatus.READY).values("id"))
    requeued = 0
    item_id: uuid.UUID
    old_task_id: uuid.UUID | None
    kind: str
    for item_id, old_task_id, kind in [
        *expired.values_list("id", "task_id", "batch__kind")[:500],
        *orphaned.values_list("id", "task_id", "batch__kind")[:500],
    ]:
        with transaction.atomic():
            still_stale = Item.objects.filter(
                Q(status=Status.PROCESSING, lease_until__lt=now) | Q(status=Status.QUEUED),
                pk=item_id,
                task_id=old_task_id,
            ).update(status=Status.QUEUED, claim_token="", lease_until=None, queued_at=now)
            if not still_stale:
                continue
            Item.objects.filter(pk=item_id).update(task_id=_enqueue_processing(item_id, kind=kind))
            if old_task_id is not None:
                # django-tasks-db would show the dead worker's job as running forever.
                DBTaskResult.objects.filter(pk=old_task_id, status=TaskResultStatus.RUNNING).update(
                    status=TaskResultStatus.FAILED,
                    finished_at=now,
                    exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
                    traceback="the worker running this job stopped; the item was queued again",
                )
        logger.warning("re-queued item %s: its worker stopped", item_id)
        transaction.on_commit(functools.partial(events.item_changed, item_id=item_id))
        requeued += 1
    return requeued


class ItemNotEditable(Exception):
    """The item has no still cutout to edit (not finished, failed, or an animation)."""


def item_mask_save(*, item: Item, mask_png: bytes) -> Item:
    """A new revision of the item's result: its original composed with `mask_png` and the batch's options.

    The mask is in the original's frame (as displayed), at its size or scaled down by
    the same factor; pipeline.decode_mask says what it accepts (ImageRejected
    otherwise). The model's result is kept, to revert to and to reuse.
    """
    options = _editable_options(item)
    mask = pipeline.decode_mask(mask_png, size=(item.width, item.height), max_pixels=settings.MAX_IMAGE_PIXELS)
    with item.source.open("rb") as source:
        cutout = pipeline.recompose(
            source.read(),
            mask,
            max_pixels=settings.MAX_IMAGE_PIXELS,
            compress_level=settings.PNG_COMPRESS_LEVEL,
            options=options,
            background=_background_of(item.batch),
        )
    # Kept as the L image it means (whatever the PNG's mode was), for the next edit to start from.
    kept_mask = pipeline.encode_png(mask, compress_level=settings.PNG_COMPRESS_LEVEL)
    mask_name = _storage_save(f"{_item_prefix(item)}/mask-edited-{uuid.uuid4().hex[:8]}.png", ContentFile(kept_mask))
    name = _storage_save(
        f"{_item_prefix(item)}/cutout-edited-{uuid.uuid4().hex[:8]}.{cutout.extension}", ContentFile(cutout.data)
    )
    foreground = list(cutout.foreground) if cutout.foreground else None
    return _item_revision_record(
        item, result=name, result_bytes=len(cutout.data), foreground=foreground, edited_mask=mask_name
    )


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


def _editable_options(item: Item) -> Options:
    if item.status != Status.DONE:
        raise ItemNotEditable(f"this item is {item.status}; only a finished cutout can be edited")
    options = Options.from_json(item.batch.options)
    if options.format in pipeline.ANIMATED_FORMATS and _source_is_animated(item):
        raise ItemNotEditable("only still cutouts can be edited, not animations or videos")
    return options


def _source_is_animated(item: Item) -> bool:
    with item.source.open("rb") as source:
        info = pipeline.inspect_upload(
            source,
            max_pixels=settings.MAX_IMAGE_PIXELS,
            max_frames=settings.MAX_ANIMATION_FRAMES,
            max_video_seconds=settings.MAX_VIDEO_SECONDS,
        )
    return info.animated or info.video


def _item_revision_record(item: Item, *, result: str, result_bytes: Any, foreground: Any, edited_mask: str) -> Item:
    """Make `result` the item's newest revision, keeping the model's; the replaced edit's files go."""
    result_sha256 = _stored_sha256(result)  # for the manifest; read before the row is locked
    with transaction.atomic():
        current = Item.objects.select_for_update().select_related("batch").get(pk=item.pk)
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
        replaced_mask, current.edited_mask.name = str(current.edited_mask.name), edited_mask
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
            ]
        )
        if replaced not in (model_result, result):
            transaction.on_commit(functools.partial(_storage_delete_quietly, replaced))
        if replaced_mask:
            transaction.on_commit(functools.partial(_storage_delete_quietly, replaced_mask))
        _announce_after_commit(current)
    return current


def batch_zip(*, batch: Batch) -> ZipStream:
    """A zip of the batch's finished cutouts and their manifest.json, produced chunk by chunk as it is read.

    Members are read from storage only while the zip is being sent, so memory
    stays flat however many files the batch has. Names are safe and unique.
    """
    archive = ZipStream(sized=True)
    items = selectors.batch_items(batch)
    member_names = zip_member_names(items)
    for item in items:
        if item.id in member_names:
            archive.add(storage_chunks(str(item.result.name)), member_names[item.id], size=item.result_bytes)
    manifest = serializers.serialize_manifest(batch, items, member_names)
    archive.add(json.dumps(manifest, indent=2).encode(), MANIFEST_NAME)
    return archive


def batch_manifest(*, batch: Batch) -> dict[str, Any]:
    """The zip's manifest.json for `batch`, naming each cutout as the zip does."""
    items = selectors.batch_items(batch)
    return serializers.serialize_manifest(batch, items, zip_member_names(items))


def zip_member_names(items: list[Item]) -> dict[uuid.UUID, str]:
    """The zip member name of each done item: its uploaded name made safe and unique."""
    taken = {MANIFEST_NAME}
    return {
        item.id: _unique_member_name(item.filename, PurePosixPath(str(item.result.name)).suffix, taken)
        for item in items
        if item.status == Status.DONE
    }


def storage_chunks(name: str) -> Iterator[bytes]:
    """A stored file, read a chunk at a time (for streamed replies and zips)."""
    source: IO[bytes]
    with default_storage.open(name, "rb") as source:
        while chunk := source.read(STORAGE_CHUNK_BYTES):
            yield chunk


def zip_member_stem(filename: str) -> str:
    """A safe file name stem from an uploaded name: 'My photo.v2.JPG' -> 'My_photo_v2'."""
    try:
        stem = get_valid_filename(PurePosixPath(filename).stem.replace(".", "_"))
    except SuspiciousFileOperation:  # nothing usable left, e.g. '???.jpg'
        stem = ""
    if stem.upper() in WINDOWS_RESERVED_NAMES:
        stem = f"{stem}_"  # 'con.png' cannot be extracted on Windows
    return (stem or "image")[:100]


def _unique_member_name(filename: str, suffix: str, taken: set[str]) -> str:
    stem = zip_member_stem(filename)
    candidate, counter = f"{stem}{suffix}", 2
    while candidate.lower() in taken:
        candidate, counter = f"{stem}-{counter}{suffix}", counter + 1
    taken.add(candidate.lower())
    return candidate


def image_submit(*, owner: "User", upload: Any, options: Options | None = None, background: Any = None) -> Item:
    """batch_submit for one image whose caller waits (/bgremove, /v1.0/removebg): its jobs go first.

    `upload` is a Django File (an UploadedFile, or a ContentFile with a name).
    Raises pipeline.ImageRejected when it is not an image we accept.
    """
    try:
        _, items, _ = batch_submit(
            owner=owner, files=[upload], options=options or Options(), background=background, kind=Batch.Kind.BGREMOVE
        )
    except NothingAccepted as refused:
        raise pipeline.ImageRejected(refused.rejected[0].error) from None
    return items[0]


def stored_image_create(*, owner: "User", upload: Any) -> StoredImage:
    """Keep an uploaded image for later /bgremove calls that name it (the /store flow)."""
    error = _upload_error(upload, room=1)
    if error is None:
        info = pipeline.inspect_image(upload, max_pixels=settings.MAX_IMAGE_PIXELS)  # raises ImageRejected
    else:
        raise pipeline.ImageRejected(error)
    image = StoredImage(id=uuid.uuid4(), owner=owner, filename=display_filename(upload.name), size_bytes=upload.size)
    image.file.name = _storage_save(f"users/{owner.pk}/store/{image.id}.{_extension(info)}", upload)
    image.save()
    return image


@dataclass(frozen=True)
class PurgeCounts:
    batches: int
    files: int
    stored_images: int
    jobs: int


def expired_purge(*, older_than: Any, chunk: int = 200) -> PurgeCounts:
    """Delete batches, stored images and finished jobs created before `older_than`, files first.

    Files go before their rows, so an interrupted purge leaves rows whose files
    are gone (finished again by the next run), never files nobody can find.
    """
    batches = files = stored = 0
    while expired := list(Batch.objects.filter(created_at__lt=older_than).order_by("created_at")[:chunk]):
        rows = Item.objects.filter(batch__in=expired).values_list(
            "source", "result", "model_result", "mask", "edited_mask"
        )
        names = [name for row in rows for name in row]
        names += [str(batch.bg_image) for batch in expired if batch.bg_image]
        for file_name in filter(None, names):
            default_storage.delete(file_name)
            files += 1
        Batch.objects.filter(pk__in=[batch.pk for batch in expired]).delete()
        batches += len(expired)
    while images := list(StoredImage.objects.filter(created_at__lt=older_than)[:chunk]):
        for image in images:
            default_storage.delete(str(image.file.name))
            files += 1
        StoredImage.objects.filter(pk__in=[image.pk for image in images]).delete()
        stored += len(images)
    jobs, _ = DBTaskResult.objects.filter(finished_at__lt=older_than).delete()
    return PurgeCounts(batches=batches, files=files, stored_images=stored, jobs=jobs)


def _notify_if_batch_finished(batch_id: uuid.UUID) -> None:
    """Queue the batch's webhook once it has nothing left to do (once per completion)."""
    batch = Batch.objects.filter(pk=batch_id).exclude(callback_url="").first()
    if batch is None:
        return
    counts = selectors.batch_counts(batch)
    if counts[Status.QUEUED] or counts[Status.PROCESSING]:
        return
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(batch=batch, items_total=counts["total"], url=batch.callback_url)
            _enqueue_webhook(delivery.pk)
    except IntegrityError:
        return  # another worker finished the last item at the same moment and queued it


def _enqueue_webhook(delivery_id: uuid.UUID, *, delay_seconds: float = 0) -> None:
    from removal.tasks import deliver_webhook

    job = deliver_webhook
    if delay_seconds:
        job = job.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    job.enqueue(str(delivery_id))


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What X-Bgsite-Signature carries: HMAC-SHA256 of "<timestamp>.<body>" with the account's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_deliver(*, delivery_id: str) -> None:
    """POST the batch summary to its callback URL; retry with backoff, then give up."""
    delivery = WebhookDelivery.objects.select_related("batch__owner").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return
    batch = delivery.batch
    summary = serializers.serialize_batch_summary(batch, selectors.batch_counts(batch))
    items = [
        {key: value for key, value in serializers.serialize_item(item).items() if key in WEBHOOK_ITEM_FIELDS}
        for item in selectors.batch_items(batch)
    ]
    body = json.dumps({"event": "batch.finished", "batch": summary, "items": items}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "bgsite-webhook/1",
        "X-Bgsite-Event": "batch.finished",
        "X-Bgsite-Delivery": str(delivery.pk),
        "X-Bgsite-Timestamp": timestamp,
        "X-Bgsite-Signature": webhook_signature(webhook_secret_for(batch.owner), timestamp, body),
    }
    status_code, error = None, ""
    try:
        fetch.check_url(delivery.url, "callback URL")
        with fetch.safe_session(_webhook_limits()) as session:
            reply = session.post(delivery.url, data=body, headers=headers, timeout=10, allow_redirects=False)
        status_code = reply.status_code
        if not 200 <= reply.status_code < 300:
            error = f"answered HTTP {reply.status_code}"
    except fetch.FetchError as exc:
        error = str(exc)
    except requests.RequestException as exc:
        error = f"could not connect ({exc.__class__.__name__})"

    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status_code, error
    if not error:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, timezone.now()
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        _enqueue_webhook(delivery.pk, delay_seconds=settings.WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1))
    delivery.save()
    metrics.WEBHOOK_DELIVERIES.labels(
        "retrying" if delivery.status == WebhookDelivery.Status.PENDING else delivery.status
    ).inc()


WEBHOOK_ITEM_FIELDS = {"id", "filename", "status", "result", "error", "cached"}


def _webhook_limits() -> fetch.FetchLimits:
    return fetch.FetchLimits(
        max_bytes=1_000_000,
        timeout_seconds=10,
        max_redirects=0,
        allowed_networks=settings.FETCH_ALLOWED_NETWORKS,
    )


RERUN_CHUNK = 50


def batch_rerun(
    *, batch: Batch, options: Options, callback_url: str = "", background: Any = None
) -> tuple[Batch, list[Item], list[RejectedFile]]:
    """A new batch of the same uploads with other options; nothing is uploaded again.

    The sources are copied (so either batch can expire alone); identical
    bytes-and-options are reused as usual. Raises NothingAccepted (and keeps
    nothing) when no image could be queued again.
    """
    with transaction.atomic():
        new_batch, items, rejected = _batch_rerun(
            batch=batch, options=options, callback_url=callback_url, background=background
        )
        if not items:
            raise NothingAccepted(rejected)
    return new_batch, items, rejected


def _batch_rerun(
    *, batch: Batch, options: Options, callback_url: str, background: Any
) -> tuple[Batch, list[Item], list[RejectedFile]]:
    new_batch = batch_create(owner=batch.owner, options=options, callback_url=callback_url, background=background)
    sources = list(batch.items.order_by("created_at", "id").values_list("source", "filename"))
    items: list[Item] = []
    rejected: list[RejectedFile] = []
    for start in range(0, len(sources), RERUN_CHUNK):
        files = []
        try:
            for source, filename in sources[start : start + RERUN_CHUNK]:
                try:
                    files.append(File(default_storage.open(source, "rb"), name=filename))
                except (OSError, BotoCoreError, ClientError):
                    rejected.append(RejectedFile(filename=filename, error="the original upload is no longer stored"))
            added, refused = batch_add_files(batch=new_batch, files=files)
            items += added
            rejected += refused
        finally:
            for file in files:
                file.close()
    return new_batch, items, rejected
