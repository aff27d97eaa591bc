"""Purging, files before rows: batches, stored images and finished jobs past their keeping time,
a batch its owner deletes, and everything of a user whose account is deleted. A removed image's files,
and the revisions an edit or an improvement replaces, go a while after their rows (files_delete_later),
as do the stored files that no row names a day after they were written (orphaned_files_sweep)."""

import contextlib
import dataclasses
import functools
import itertools
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone

from accounts.deletion import AccountDataNotDeleted
from accounts.models import REVOKED_API_KEY_KEPT
from accounts.services import revoked_api_keys_delete, sessions_expired_delete
from removal import events
from removal.models import Batch, DailyUsage, Item, StoredImage, WebhookDelivery
from removal.services.files import (
    STORED_NAME,
    USERS_FOLDER,
    StorageUnavailable,
    batch_folder,
    item_prefix,
    queued_task,
    storage_errors,
    stored_files_delete,
    stored_files_modified_under,
    stored_files_under,
    user_folder,
)
from removal.services.job_records import (
    finished_jobs_purge,
    job_records_delete,
    job_records_naming,
    jobs_of,
    work_ids_of,
)
from removal.services.thumbnails import MAKERS, thumbnail_name
from removal.services.webhooks import notify_if_batch_finished

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeCounts:
    batches: int
    files: int
    stored_images: int
    jobs: int
    more: bool = False  # it stopped at `most`: older ones are left for the next call


def expired_purge(*, older_than: Any, chunk: int = 200, most: int | None = None) -> PurgeCounts:
    """Delete batches, stored images, finished jobs and daily usage counts from before `older_than`, files first;
    with `most`, at most that many batches and as many stored images, the oldest (PurgeCounts.more: some are left).

    Files go before their rows, so an interrupted purge leaves rows whose files
    are gone (finished again by the next run), never files nobody can find. A batch's
    files are found from its rows and by listing its folder, as when its owner deletes
    it: what an interrupted job saved and never recorded goes too.
    """
    batches = files = stored = 0
    while (room := _room(batches, chunk, most)) and (
        expired := list(Batch.objects.filter(created_at__lt=older_than).order_by("created_at")[:room])
    ):
        files += _batches_files_deleted(expired, of="an expired batch")
        Batch.objects.filter(pk__in=[batch.pk for batch in expired]).delete()
        batches += len(expired)
    while (room := _room(stored, chunk, most)) and (
        images := list(StoredImage.objects.filter(created_at__lt=older_than).order_by("created_at")[:room])
    ):
        for image in images:
            default_storage.delete(str(image.file.name))
            files += 1
        StoredImage.objects.filter(pk__in=[image.pk for image in images]).delete()
        stored += len(images)
    jobs = finished_jobs_purge(older_than=older_than)
    DailyUsage.objects.filter(day__lt=older_than.date()).delete()  # the quota reads only today's
    more = most is not None and most in (batches, stored)
    return PurgeCounts(batches=batches, files=files, stored_images=stored, jobs=jobs, more=more)


def _room(done: int, chunk: int, most: int | None) -> int:
    """How many rows the next chunk of a purge may take, `done` taken."""
    return chunk if most is None else min(chunk, most - done)


@dataclass(frozen=True)
class UserPurgeCounts:
    batches: int
    items: int
    stored_images: int
    files: int
    jobs: int


def user_data_purge(*, user: "User") -> UserPurgeCounts:
    """Delete every stored file of a user who is being deleted, and the job records naming their work (but those
    of jobs running now).

    Called inside the user's deletion (removal/signals.py: the job of an account deleted on its page, or a deletion
    in the admin), before the rows go by cascade in the same transaction. Files are found both from the rows
    (wherever they were saved) and by listing the user's folder, so old revisions and leftovers of interrupted work
    go too; S3 or local, all through the storage API. A storage failure raises AccountDataNotDeleted, which rolls
    the deletion back (the job tries again later): files may be gone, never rows nobody can reach.
    """
    batches = Batch.objects.filter(owner=user)
    items = Item.objects.filter(batch__owner=user)
    names = _file_names(items, batches) | set(StoredImage.objects.filter(owner=user).values_list("file", flat=True))
    try:
        names = _files_deleted(names, folder=user_folder(user.pk), of="the account")
    except StorageUnavailable as exc:
        raise AccountDataNotDeleted(str(exc)) from exc
    jobs = job_records_delete(items, WebhookDelivery.objects.filter(batch__owner=user))
    counts = UserPurgeCounts(
        batches=batches.count(),
        items=items.count(),
        stored_images=StoredImage.objects.filter(owner=user).count(),
        files=len(names),
        jobs=jobs,
    )
    logger.info(
        "deleted an account's data: %d batches, %d items, %d stored images, %d files, %d job records",
        *dataclasses.astuple(counts),
    )
    return counts


def user_batches_purge(*, user: "User", chunk: int = 20) -> int:
    """Delete an ended account's batches, `chunk` at a time, each step its files, job records and rows in a
    transaction of its own, the job records found in one read of the job table beforehand (a read a step read it
    whole a thousand times for a thousand steps); how many. Run by the account's deletion job before the user's rows
    go in one transaction (removal/signals.py): an account of 300,000 images deleted in one held SQLite's write lock
    for some 20 s, uploads and workers waiting on it. A storage failure raises AccountDataNotDeleted: steps done stay
    done."""
    named = job_records_naming(
        work_ids_of(Item.objects.filter(batch__owner=user), WebhookDelivery.objects.filter(batch__owner=user))
    )
    purged = files = 0
    while batches := list(Batch.objects.filter(owner=user).order_by("pk")[:chunk]):
        ids = [batch.pk for batch in batches]
        try:
            files += _batches_files_deleted(batches, of="a deleted account's batch")
        except StorageUnavailable as exc:
            raise AccountDataNotDeleted(str(exc)) from exc
        job_records_delete(
            Item.objects.filter(batch_id__in=ids), WebhookDelivery.objects.filter(batch_id__in=ids), named=named
        )
        Batch.objects.filter(pk__in=ids).delete()
        purged += len(ids)
    logger.info("deleted an ended account's batches: %d batches, %d files", purged, files)
    return purged


@dataclass(frozen=True)
class BatchDeleteCounts:
    items: int
    files: int
    jobs: int


def batch_delete(*, batch: Batch) -> BatchDeleteCounts:
    """Delete a batch at its owner's request: its rows and the jobs still waiting to run for it now, its stored
    files (uploads, cutouts, masks, hand edits, the background, whatever else lies in its folder) a while later,
    so that a zip or a download already sending them finishes whole (files_delete_later): the zip downloaded
    just before the batch is deleted, say. `files` counts those its rows named.

    A worker cutting out one of its images meanwhile finds the row gone and deletes what it saved
    (processing._item_finish); a job already running keeps its record until the worker is done with it.
    """
    items = Item.objects.filter(batch=batch)
    names, folder, batch_id = _file_names(items, Batch.objects.filter(pk=batch.pk)), batch_folder(batch), batch.pk
    with transaction.atomic():
        waiting = jobs_of(items, WebhookDelivery.objects.filter(batch=batch)).filter(status=TaskResultStatus.READY)
        jobs, _ = waiting.delete()
        counts = BatchDeleteCounts(items=items.count(), files=len(names), jobs=jobs)
        batch.delete()
        files_delete_later(names, folder=folder)
    events.batch_deleted(batch_id=batch_id)
    logger.info(
        "deleted batch %s at its owner's request: %d items, %d files (deleted later), %d waiting jobs",
        batch_id,
        *dataclasses.astuple(counts),
    )
    return counts


def item_delete(*, item: Item) -> None:
    """Delete one image of a batch at its owner's request: its row and its job if it is still waiting now, its files
    (those its row names, and whatever else lies in its folder) a while later, so that a zip already sending them
    finishes whole (files_delete_later). The batch's page drops its card, and a batch whose other images are all
    finished is finished (its webhook sent)."""
    item_id, batch, items = item.pk, item.batch, Item.objects.filter(pk=item.pk)
    names, folder = _file_names(items, Batch.objects.none()), f"{item_prefix(item)}/"
    with transaction.atomic():
        jobs_of(items, WebhookDelivery.objects.none()).filter(status=TaskResultStatus.READY).delete()
        item.delete()
        files_delete_later(names, folder=folder)
    events.item_removed(item_id=item_id, batch=batch)
    notify_if_batch_finished(batch)


DELETE_FILES_TASK = "removal.tasks.delete_files"


def files_delete_later(names: Iterable[str], *, folder: str = "") -> None:
    """Delete `names`, and with `folder` whatever else lies under it, DELETED_FILES_KEPT_SECONDS from now rather than
    at once: a zip or a download already sending one of them (a removed image, a replaced revision) finishes whole.

    A job queued in the caller's transaction: gone with a rollback, kept across a restart. At 0 seconds the files
    go as soon as the transaction commits.
    """
    names = sorted(set(filter(None, names)))
    if not names and not folder:
        return
    delay = settings.DELETED_FILES_KEPT_SECONDS
    if delay <= 0:
        transaction.on_commit(functools.partial(files_delete, names=names, folder=folder))
        return
    queued_task(DELETE_FILES_TASK, delay_seconds=delay).enqueue(names, folder, 0)


# A deletion that storage refuses is tried again 5, 10, 20, 40 and 80 minutes later (about 2.5 hours in all).
FILES_DELETE_ATTEMPTS = 6
FILES_DELETE_RETRY_SECONDS = 300


def files_delete(*, names: list[str], folder: str, attempt: int = 0) -> None:
    """files_delete_later's job. Storage refusing it, it is queued again, up to FILES_DELETE_ATTEMPTS in all; after
    that, what it left lies in its batch's folder until orphaned_files_sweep takes it (or the batch's expiry, its
    owner's deletion, the account's)."""
    try:
        _files_deleted(set(names), folder=folder, of="removed or replaced files")  # a refusal is logged there
    except StorageUnavailable:
        if attempt + 1 >= FILES_DELETE_ATTEMPTS:
            logger.error("gave up deleting %s after %d tries; they go with their batch", folder or names, attempt + 1)
            return
        delay = FILES_DELETE_RETRY_SECONDS * 2**attempt
        queued_task(DELETE_FILES_TASK, delay_seconds=delay).enqueue(names, folder, attempt + 1)


# Longer than any request or job takes between storing a file and committing the row that names it.
ORPHANED_FILES_KEPT = timedelta(days=1)


def orphaned_files_sweep(*, older_than: datetime | None = None, page: int = 1000) -> int:
    """Delete (files_delete_later) the files stored before `older_than` (by default ORPHANED_FILES_KEPT ago) that
    no row names, nor is a thumbnail of one a row names; how many. They are what a process killed mid-upload or
    mid-job (a deploy, the OOM killer) stored before committing the rows that would name them: a new batch's uploads
    and background, an image added to a batch, a cutout, a /store image. No purge finds them from a row.

    Storage is listed a page at a time (on S3 one request per 1,000 names) and each page's rows are read by their
    ids, so neither the bucket nor a table is held in memory. An upload in progress stores its files before its
    rows commit, hence the age. A file whose row went a moment ago waits DELETED_FILES_KEPT_SECONDS again, as
    files_delete_later makes every deletion wait: a download still sending it finishes whole.
    """
    older_than = older_than or timezone.now() - ORPHANED_FILES_KEPT
    listed = stored_files_modified_under(USERS_FOLDER)
    old = (name for name, modified in listed if modified < older_than and STORED_NAME.fullmatch(name))
    swept = 0
    for names in itertools.batched(old, page):
        orphaned = set(names) - _named_by_rows(names)
        files_delete_later(orphaned)
        swept += len(orphaned)
    return swept


def daily_sweep() -> int:
    """What the workers do once a day, and purge_expired at each run: the orphaned files (how many), and the expired
    log-in sessions and the keys revoked over REVOKED_API_KEY_KEPT ago, which nothing else removes."""
    swept = orphaned_files_sweep()
    sessions_expired_delete()
    if keys := revoked_api_keys_delete():
        logger.info("retention: %d API keys revoked over %d days ago", keys, REVOKED_API_KEY_KEPT.days)
    return swept


def _named_by_rows(names: Iterable[str]) -> set[str]:
    """The stored names among `names` (each one STORED_NAME matches) that rows name, with their thumbnails."""
    found = [match for name in names if (match := STORED_NAME.fullmatch(name))]
    items = Item.objects.filter(pk__in={match["item"] for match in found if match["item"]})
    batches = Batch.objects.filter(pk__in={match["batch"] for match in found if match["batch"] and not match["item"]})
    stored = StoredImage.objects.filter(
        owner_id__in={match["user"] for match in found if not match["batch"]},
        file__in=[match.string for match in found if not match["batch"]],
    )
    named = _file_names(items, batches) | set(stored.values_list("file", flat=True))
    return named | {thumbnail_name(name, kind) for name in named for kind in MAKERS}


def stored_image_delete(*, image: StoredImage) -> None:
    """Delete a /store image now (an operator's deletion in the admin): its file, then its row."""
    with _storage_refusal_kept_rows(of="the stored image", where=str(image.file.name)):
        default_storage.delete(str(image.file.name))
    image.delete()


def _file_names(items: QuerySet[Item], batches: QuerySet[Batch]) -> set[str]:
    """The stored names the rows of `items` and `batches` hold (an empty file field names none)."""
    names = {name for row in items.values_list(*Item.FILE_FIELDS) for name in row if name}
    return names | set(batches.exclude(bg_image="").values_list("bg_image", flat=True))


def _batches_files_deleted(batches: list[Batch], *, of: str) -> int:
    """Delete the stored files of `batches`, each batch's found from its rows and by listing its folder; how many.
    A storage failure raises StorageUnavailable (_files_deleted)."""
    deleted = 0
    for batch in batches:
        names = _file_names(Item.objects.filter(batch=batch), Batch.objects.filter(pk=batch.pk))
        deleted += len(_files_deleted(names, folder=batch_folder(batch), of=of))
    return deleted


def _files_deleted(names: set[str], *, folder: str, of: str) -> set[str]:
    """Delete `names` and every file under `folder` (leftovers of interrupted work, old revisions), if one is
    named; what went.

    A storage failure raises StorageUnavailable: some files may be gone, and the caller keeps its rows.
    """
    with _storage_refusal_kept_rows(of=of, where=folder or ", ".join(sorted(names))):
        names = set(filter(None, names | set(stored_files_under(folder) if folder else ())))
        stored_files_delete(sorted(names))
    if folder:
        _remove_empty_folders(folder)
    return names


@contextmanager
def _storage_refusal_kept_rows(*, of: str, where: str) -> Iterator[None]:
    """A storage error in the block is StorageUnavailable, saying that `of` is not deleted yet (its rows stay)."""
    try:
        yield
    except storage_errors() as exc:
        logger.error("could not delete the files of %s (%s): %s", of, where, exc)
        raise StorageUnavailable(
            f"storage is unavailable ({exc.__class__.__name__}); {of} is not deleted yet, try again shortly"
        ) from exc


def _remove_empty_folders(folder: str) -> None:
    """Local storage keeps the folders files were in; take the user's (then empty) tree away too."""
    try:
        root = Path(default_storage.path(folder))
    except NotImplementedError:  # S3 has no folders, only keys
        return
    for path in sorted(root.glob("**/"), key=lambda found: len(found.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty: something arrived meanwhile, and stays visible
            path.rmdir()
