"""The first screen's demonstration: a photo shipped with bgsite, cut out by this server's own pipeline.

The cutout is made by whoever makes the uploads' cutouts, a worker thread (of this process under `make run`, of a
worker process in the scaled layout), as a job, and kept in the default storage under a name that says what made it.
A web process serves it from there: it loads no model, and may have no weights at all.

Its name says what made it, the weights' bytes included (their SHA-256): new weights installed under the same name
(`manage.py models pull NAME --from FILE`, another `models quantize`) make another sample at another address once the
workers run them (a process runs the weights it loaded until it restarts, and says so: WorkerProcess.weights_sha256).
The execution providers are not in it (nor onnxruntime's version): CPU and CUDA may round a few alpha values apart,
which no visitor sees, and a fleet of both would make the sample again at each change of hands. Samples of earlier
weights stay in storage (260 KB each): during a rolling upgrade workers of both weights make and keep their own, and
deleting the other's would start them again; the landing page links only the current one."""

import functools
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
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

from removal import selectors
from removal.cutout.installed import weights_sha256
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


@dataclass(frozen=True)
class SampleCutout:
    version: str  # what made it, as a short digest: its name and its address say it
    png: bytes


class SampleWeightsDiffer(Exception):
    """This worker runs other weights than those the sample was asked of; a worker that runs them makes it."""


@functools.cache
def _photo_sha256() -> str:
    return hashlib.sha256(SAMPLE_PHOTO.read_bytes()).hexdigest()


# The weights the worker processes last said they run, by model: a web process links the sample they made while
# none is seen (all of them restarting).
_weights_last_said: dict[str, str] = {}


def sample_weights(*, model: str) -> str:
    """The SHA-256 of the `model` weights the sample is cut out with; "" while none is known. Those this process's
    own worker threads run (EMBEDDED_WORKERS above 0); in a web process without them, those the live worker processes
    said they run (most of them, while a rolling upgrade leaves some on others), or at least last said, and until one
    has said, those in its own U2NET_HOME, where a worker beside it would find them. A dictionary look-up or a query
    of a few rows: no weights are read here after the first time."""
    if settings.EMBEDDED_WORKERS > 0:
        return weights_sha256(settings.U2NET_HOME, model) or ""
    said = Counter(
        process.weights_sha256[model]
        for process in selectors.worker_processes_live()
        if process.weights_sha256.get(model)
    )
    if said:
        _weights_last_said[model] = max(said, key=lambda digest: (said[digest], digest))
    if model not in _weights_last_said:
        return weights_sha256(settings.U2NET_HOME, model) or ""
    return _weights_last_said[model]


def sample_version(*, model: str, weights: str) -> str:
    """What the sample cut out with `model` depends on, as a short digest: the photo, the model and its weights'
    SHA-256, the options and the PNG compression. Another default model, new weights under its name (or another
    photo) make another name, and another URL for browsers to cache."""
    made_by = f"{_photo_sha256()} {model} {weights} {SAMPLE_OPTIONS!r} {settings.PNG_COMPRESS_LEVEL}"
    return hashlib.sha256(made_by.encode()).hexdigest()[:16]


def sample_name(model: str, version: str) -> str:
    """The sample's name in storage."""
    return f"{SAMPLES_FOLDER}cutout-{model}-{version}.png"


# The names found in storage, with their bytes (one PNG of 480 x 480, 260 KB with the default model): a sample once
# made is never replaced under its name, so this process reads it once.
_stored: dict[str, bytes] = {}


@receiver(setting_changed)
def _stored_forgotten(*, setting: str, **kwargs: Any) -> None:
    """Another storage (a test's media folder) holds other files."""
    if setting in {"MEDIA_ROOT", "STORAGES"}:
        _stored.clear()


def sample_cutout(*, model: str, weights: str | None = None) -> SampleCutout | None:
    """The sample cut out with `model`'s weights of SHA-256 `weights` (by default those the workers run:
    sample_weights), as stored; None while no worker has made it. StorageUnavailable where storage fails."""
    if weights is None:
        weights = sample_weights(model=model)
    version = sample_version(model=model, weights=weights)
    name = sample_name(model, version)
    if name not in _stored:
        try:
            with default_storage.open(name, "rb") as stored:
                _stored[name] = stored.read()
        except FileNotFoundError:
            return None
        except storage_errors() as exc:
            raise StorageUnavailable.after(exc) from exc
    return SampleCutout(version=version, png=_stored[name])


def sample_cutout_or_request(*, model: str, weights: str | None = None) -> SampleCutout | None:
    """The sample cut out with `model` (and `weights`, as sample_cutout), as stored; while there is none, None, and a
    worker is asked to make it."""
    if weights is None:
        weights = sample_weights(model=model)
    if (cutout := sample_cutout(model=model, weights=weights)) is None:
        _sample_cutout_request(model=model, weights=weights)
    return cutout


def _sample_cutout_request(*, model: str, weights: str) -> None:
    """Have a worker make the sample with `model`'s `weights` (sample_cutout_make), unless a job for them waits
    already or was queued within SAMPLE_REQUESTED_AGAIN_AFTER (one that failed, the model missing, is not queued at
    each visit)."""
    recent = Q(status=TaskResultStatus.READY) | Q(enqueued_at__gt=timezone.now() - SAMPLE_REQUESTED_AGAIN_AFTER)
    asked = DBTaskResult.objects.filter(recent, task_path=MAKE_SAMPLE_TASK).values_list("args_kwargs", flat=True)
    if [model, weights] not in (job["args"] for job in asked):
        queued_task(MAKE_SAMPLE_TASK).using(priority=SAMPLE_PRIORITY).enqueue(model, weights)


def sample_cutout_make(*, model: str, weights: str = "") -> None:
    """The sample photo through the same pipeline, model and options as an upload's, stored under the SHA-256 of the
    weights this worker runs (once: a job queued twice finds it there). SampleWeightsDiffer where they are not the
    `weights` asked for ("": any)."""
    own = weights_sha256(settings.U2NET_HOME, model) or ""
    if weights and own and own != weights:
        raise SampleWeightsDiffer(f"this worker runs {model} weights of SHA-256 {own}, not {weights}")
    name = sample_name(model, sample_version(model=model, weights=own))
    if default_storage.exists(name):
        return
    cutout = cut_out_as_configured(SAMPLE_PHOTO.read_bytes(), model=model, options=SAMPLE_OPTIONS)
    saved = storage_save(name, ContentFile(cutout.data))
    if saved != name:  # another worker stored it meanwhile (local storage keeps both, under another name)
        storage_delete_quietly(saved)
    logger.info("made the first screen's sample cutout with %s: %s", model, name)
