"""The first screen's demonstration: a photo shipped with bgsite, cut out by this server's own pipeline.

The cutout is made by whoever makes the uploads' cutouts, a worker thread (of this process under `make run`, of a
worker process in the scaled layout), as a job, and kept in the default storage under a name that says what made it.
A web process serves it from there: it loads no model, and may have no weights at all."""

import functools
import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.signals import setting_changed
from django.db.models import Q
from django.dispatch import receiver
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from removal.cutout.options import Options
from removal.models import Batch
from removal.services.files import (
    StorageUnavailable,
    queued_task,
    storage_delete_quietly,
    storage_errors,
    storage_save,
)
from removal.services.processing import cut_out_as_configured
from removal.services.queueing import KIND_PRIORITY

logger = logging.getLogger(__name__)

# NASA's portrait of Eileen Collins (public domain), as scikit-image ships it, made smaller.
SAMPLE_PHOTO = Path(settings.BASE_DIR) / "static" / "samples" / "astronaut.jpg"
SAMPLE_OPTIONS = Options(format="png")  # an upload's defaults
# Outside users/, which the orphaned-files sweep lists: no row names the sample, and none needs to.
SAMPLES_FOLDER = "samples/"
MAKE_SAMPLE_TASK = "removal.tasks.make_sample_cutout"
# A visitor's page waits for it, as a /bgremove caller for its image: ahead of the batches' images (a second, once).
SAMPLE_PRIORITY = KIND_PRIORITY[Batch.Kind.BGREMOVE]
SAMPLE_REQUESTED_AGAIN_AFTER = timedelta(minutes=1)


@functools.cache
def _photo_sha256() -> str:
    return hashlib.sha256(SAMPLE_PHOTO.read_bytes()).hexdigest()


def sample_version(*, model: str) -> str:
    """What the sample cut out with `model` depends on, as a short digest: the photo, the model, the options and the
    PNG compression. Another default model (or photo) makes another name, and another URL for browsers to cache."""
    made_by = f"{_photo_sha256()} {model} {SAMPLE_OPTIONS!r} {settings.PNG_COMPRESS_LEVEL}"
    return hashlib.sha256(made_by.encode()).hexdigest()[:16]


def sample_name(model: str) -> str:
    """The sample's name in storage."""
    return f"{SAMPLES_FOLDER}cutout-{model}-{sample_version(model=model)}.png"


# The names found in storage, with their bytes (one PNG of 480 x 480, 260 KB with the default model): a sample once
# made is never replaced under its name, so this process reads it once.
_stored: dict[str, bytes] = {}


@receiver(setting_changed)
def _stored_forgotten(*, setting: str, **kwargs: Any) -> None:
    """Another storage (a test's media folder) holds other files."""
    if setting in {"MEDIA_ROOT", "STORAGES"}:
        _stored.clear()


def sample_cutout(*, model: str) -> bytes | None:
    """The sample cut out with `model`, as stored; None while no worker has made it.
    StorageUnavailable where storage fails."""
    name = sample_name(model)
    if name not in _stored:
        try:
            with default_storage.open(name, "rb") as stored:
                _stored[name] = stored.read()
        except FileNotFoundError:
            return None
        except storage_errors() as exc:
            raise StorageUnavailable.after(exc) from exc
    return _stored[name]


def sample_cutout_or_request(*, model: str) -> bytes | None:
    """The sample cut out with `model`, as stored; while there is none, None, and a worker is asked to make it."""
    if (cutout := sample_cutout(model=model)) is None:
        _sample_cutout_request(model=model)
    return cutout


def _sample_cutout_request(*, model: str) -> None:
    """Have a worker make the sample with `model` (sample_cutout_make), unless a job for it waits already or was
    queued within SAMPLE_REQUESTED_AGAIN_AFTER (one that failed, the model missing, is not queued at each visit)."""
    recent = Q(status=TaskResultStatus.READY) | Q(enqueued_at__gt=timezone.now() - SAMPLE_REQUESTED_AGAIN_AFTER)
    asked = DBTaskResult.objects.filter(recent, task_path=MAKE_SAMPLE_TASK).values_list("args_kwargs", flat=True)
    if [model] not in (job["args"] for job in asked):
        queued_task(MAKE_SAMPLE_TASK).using(priority=SAMPLE_PRIORITY).enqueue(model)


def sample_cutout_make(*, model: str) -> None:
    """The sample photo through the same pipeline, model and options as an upload's, stored (once: a job queued twice
    finds it there)."""
    name = sample_name(model)
    if default_storage.exists(name):
        return
    cutout = cut_out_as_configured(SAMPLE_PHOTO.read_bytes(), model=model, options=SAMPLE_OPTIONS)
    saved = storage_save(name, ContentFile(cutout.data))
    if saved != name:  # another worker stored it meanwhile (local storage keeps both, under another name)
        storage_delete_quietly(saved)
    logger.info("made the first screen's sample cutout with %s: %s", model, name)
