"""What the other services share: storage writes, stored names, hashes and the upload-size rule."""

import errno
import hashlib
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.tasks import Task
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext, gettext_noop

from removal.cutout import pipeline
from removal.models import FILENAME_LENGTH, Batch, Item
from removal.translated import in_language

logger = logging.getLogger(__name__)


STORAGE_CHUNK_BYTES = 256 * 1024


# A write refused for want of room: a disk full, a quota, a file-size limit (`ulimit -f`).
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class StorageUnavailable(Exception):
    """Storage refused a write (disk full, bucket unreachable); the request can be retried."""

    @classmethod
    def after(cls, exc: Exception) -> "StorageUnavailable":
        """The error to raise when storage raised `exc`, saying so."""
        return cls(f"{storage_failure(exc)}; try again shortly")

    @classmethod
    def of(cls, exc: Exception) -> "StorageUnavailable | None":
        """`exc` as this error: itself, or a write refused for want of room where a request's body or files are
        spooled (TMPDIR) before any storage call; None for any other error."""
        if isinstance(exc, cls):
            return exc
        if isinstance(exc, OSError) and exc.errno in NO_ROOM_ERRNOS:
            return cls.after(exc)
        return None


def bucket_errors() -> tuple[type[Exception], ...]:
    """The exceptions S3 (botocore) raises when the bucket fails; none in a process that never loaded botocore: the
    settings load it where they name a bucket, the S3 backend when it is imported, and no other call can raise them.
    A process without a bucket does not import botocore (50 ms, its exceptions module alone) for an `except` clause."""
    if "botocore" not in sys.modules:
        return ()
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def storage_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """The exceptions a storage call raises when storage fails: OSError (local files) and the bucket's, and `also`.
    Read it when the exception is caught (`except storage_errors():`), after the call that may have loaded the S3
    backend."""
    return (OSError, *bucket_errors(), *also)


def storage_failure(exc: Exception) -> str:
    """What a caller or an item's error is told of storage's `exc`: its kind, not its text, which names the bucket's
    endpoint, the bucket and the file (the log has those)."""
    return f"storage is unavailable ({exc.__class__.__name__})"


def storage_save(name: str, content: Any) -> str:
    try:
        return default_storage.save(name, content)
    except storage_errors() as exc:
        logger.error("storage refused to save %s: %s", name, exc)
        raise StorageUnavailable.after(exc) from exc


def storage_copy(source: str, target: str) -> str:
    """A copy of the stored file `source` under a free name like `target`: inside the bucket on S3
    (removal.storage.LinkingS3Storage.copy), else read and written. StorageUnavailable if storage refused."""
    try:
        if copy := getattr(default_storage, "copy", None):
            return str(copy(source, target))
        with default_storage.open(source, "rb") as content:
            return storage_save(target, content)
    except bucket_errors() as exc:
        logger.error("storage refused to copy %s: %s", source, exc)
        raise StorageUnavailable.after(exc) from exc


def storage_delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except storage_errors():
        logger.warning("could not delete %s after a failed request", name)


def upload_sha256(upload: Any) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    while chunk := upload.read(STORAGE_CHUNK_BYTES):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def stored_sha256(name: str) -> str:
    digest = hashlib.sha256()
    for chunk in storage_chunks(name):
        digest.update(chunk)
    return digest.hexdigest()


def upload_error(upload: Any, room: int) -> str | None:
    """Why this upload is refused before it is read (in the caller's language, see accounts.auth), or None."""
    if room <= 0:
        return batch_full_error()
    if upload.size == 0:
        return gettext("the file is empty")
    return upload_size_error(upload.size)


def batch_full_error() -> str:
    """Why a file past MAX_ITEMS_PER_BATCH is refused."""
    return in_language(
        gettext_noop("the batch is full (%(limit)s files at most); start a new batch"),
        {"limit": settings.MAX_ITEMS_PER_BATCH},
    )


def inspected_under_limits(source: Any) -> pipeline.ImageInfo:
    """An upload's or a stored source's size and kind, read under this site's limits (pixels, frames, a video's
    seconds): ImageRejected past one, or for what is no image we take."""
    return pipeline.inspect_upload(
        source,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        max_frames=settings.MAX_ANIMATION_FRAMES,
        max_video_seconds=settings.MAX_VIDEO_SECONDS,
    )


def upload_size_error(size: int) -> str | None:
    """Why a file of `size` bytes is refused, or None: the one upload-size rule of every front door."""
    if size > settings.MAX_UPLOAD_BYTES:
        return in_language(
            gettext_noop("the file is %(megabytes).1f MB; the limit is %(limit)g MB per file"),
            {"megabytes": size / 1e6, "limit": settings.MAX_UPLOAD_BYTES / 1e6},
        )
    return None


def extension_of(info: pipeline.ImageInfo) -> str:
    return {"JPEG": "jpg", "MPO": "jpg"}.get(info.format, info.format.lower())


def item_prefix(item: Item) -> str:
    # Per-user prefixes keep one account's files together (lifecycle rules,
    # deletion); ids are random, so paths cannot be guessed.
    return f"{batch_folder(item.batch)}{item.id}"


def batch_folder(batch: Batch) -> str:
    """Where a batch's files lie in storage: each item's under its own id, its background beside them."""
    return f"{user_folder(batch.owner_id)}batches/{batch.pk}/"


# Where every stored file of bgsite's lies, each under its account's folder.
USERS_FOLDER = "users/"


def user_folder(user_id: int) -> str:
    """Where every file of one account lies in storage: its batches' and its stored images'."""
    return f"{USERS_FOLDER}{user_id}/"


_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Every name bgsite stores a file under, as item_prefix, batch_folder and user_folder make them: an item's files in
# its folder, a batch's background in the batch's, a /store image in its owner's store/ (removal.services.batches).
STORED_NAME = re.compile(
    rf"{USERS_FOLDER}(?P<user>\d+)/(?:batches/(?P<batch>{_UUID})/(?:(?P<item>{_UUID})/)?|store/)[^/]+"
)


# The longest ending after a name's last dot kept when the name is cut: an extension (".jpeg", ".heic"), not the
# end of a name that has a dot somewhere.
KEPT_EXTENSION_CHARS = 16


def display_filename(name: str | None) -> str:
    """The uploaded name without any directory part, trimmed to fit the column, its extension kept: a name cut at
    the column's 255 characters (an image URL's long path, a program's upload) lost it, and with it what kind of
    image the name said it was."""
    # Browsers send a name's double quotes as %22 in a multipart header (as the HTML standard has them write it).
    base = PurePosixPath((name or "").replace("\\", "/").replace("\x00", "").replace("%22", '"')).name or "image"
    if len(base) <= FILENAME_LENGTH:
        return base
    extension = PurePosixPath(base).suffix
    if len(extension) > KEPT_EXTENSION_CHARS:
        extension = ""
    return base[: FILENAME_LENGTH - len(extension)] + extension


def stored_files_under(folder: str) -> Iterator[str]:
    """Every file in storage under `folder` ("users/7/"), at any depth: in one listing where the storage offers it
    (removal.storage's S3), else folder by folder."""
    if files_under := getattr(default_storage, "files_under", None):
        yield from files_under(folder)
        return
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    yield from (folder + name for name in files)
    for name in folders:
        yield from stored_files_under(f"{folder}{name}/")


def stored_files_delete(names: Iterable[str]) -> None:
    """Delete the stored files `names` (one gone already is no error): many to a request where the storage offers it
    (removal.storage's S3), else one by one."""
    if delete_many := getattr(default_storage, "delete_many", None):
        delete_many(names)
        return
    for name in names:
        default_storage.delete(name)


def stored_files_modified_under(folder: str) -> Iterator[tuple[str, datetime]]:
    """stored_files_under's files, each with when it was last written: S3's listing says it, elsewhere each file is
    asked (one deleted meanwhile is left out)."""
    if files_modified_under := getattr(default_storage, "files_modified_under", None):
        yield from files_modified_under(folder)
        return
    for name in stored_files_under(folder):
        try:
            yield name, default_storage.get_modified_time(name)
        except FileNotFoundError:
            continue


def storage_chunks(name: str) -> Iterator[bytes]:
    """A stored file, opened when first read, then read a chunk at a time (a zip's members, one after another)."""
    yield from stored_file_chunks(default_storage.open(name, "rb"))


def opened_storage_file(name: str) -> File:
    """A stored file opened now, for stored_file_chunks to read (FileNotFoundError if it is gone).

    Open before the reply starts, the file is read whole even if it is deleted or replaced meanwhile
    (the item removed, an edit saved), instead of the reply breaking off after its headers.
    """
    return default_storage.open(name, "rb")


def stored_file_chunks(source: File, *, first_byte: int = 0, byte_count: int | None = None) -> Iterator[bytes]:
    """An opened stored file's bytes from `first_byte` on, `byte_count` of them (else to its end), a chunk at a
    time; the file is closed at the end. Nothing before `first_byte` is read: a local file is sought, an S3
    object asked for that range alone. An S3 file's chunks come straight from its object's body: read through
    django-storages, the whole object is first downloaded into memory (a zip of 20 MB cutouts took 109 MB more)."""
    with source:
        if (s3_object := getattr(source, "obj", None)) is not None:  # django-storages' S3File
            last = "" if byte_count is None else first_byte + byte_count - 1
            # The whole without Range: S3 refuses `bytes=0-` of an empty object (InvalidRange).
            sliced = {"Range": f"bytes={first_byte}-{last}"} if first_byte or byte_count is not None else {}
            with closing(s3_object.get(**sliced)["Body"]) as body:
                yield from body.iter_chunks(STORAGE_CHUNK_BYTES)
            return
        source.seek(first_byte)
        left = sys.maxsize if byte_count is None else byte_count
        while left and (chunk := source.read(min(STORAGE_CHUNK_BYTES, left))):
            left -= len(chunk)
            yield chunk


def queued_task(path: str, *, delay_seconds: float = 0) -> Task:
    """The django.tasks task at `path`, the name its queued jobs are stored under; with `delay_seconds`, its jobs
    wait that long before a worker may take them.

    tasks.py imports the services it wraps, so the services look their tasks up by
    that stored name instead of importing tasks.py back.
    """
    found = import_string(path)
    if not isinstance(found, Task):
        raise TypeError(f"{path} is not a task")
    return found.using(run_after=timezone.now() + timedelta(seconds=delay_seconds)) if delay_seconds else found
