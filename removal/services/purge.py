"""Purging: batches, stored images and finished jobs past their keeping time, files before rows."""

from dataclasses import dataclass
from typing import Any

from django.core.files.storage import default_storage
from django_tasks_db.models import DBTaskResult

from removal.models import Batch, Item, StoredImage


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
