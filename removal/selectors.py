"""Reads. Anything looked up by an id from a request is scoped to its owner here."""

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from accounts.auth import NotAuthenticated
from removal.cutout.options import Options
from removal.errors import NotFound
from removal.models import (
    Batch,
    DailyUsage,
    Item,
    ItemQuerySet,
    StoredImage,
    WebhookDelivery,
    WorkerProcess,
    needing_review,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def batches_for(user: "User") -> QuerySet[Batch]:
    """The user's batches (a /bgremove call's one-image batch is not listed)."""
    return Batch.objects.filter(owner=user, kind=Batch.Kind.UPLOAD).order_by("-created_at")


def batches_named(user: "User", text: str) -> QuerySet[Batch]:
    """The user's batches whose name holds `text` (any case), newest first; all of them for ""."""
    return batches_for(user).filter(name__icontains=text) if text else batches_for(user)


def batch_for(user: "User", batch_id: Any) -> Batch:
    """The user's batch with that id; another user's batch is indistinguishable from none."""
    parsed = _as_uuid(batch_id)
    batch = batches_for(user).filter(pk=parsed).first() if parsed else None
    if batch is None:
        # In the page's language to a page (renaming a batch another tab deleted); English to a program (accounts.auth).
        raise NotFound(gettext("no such batch"))
    return batch


def batch_created_with(user: "User", idempotency_key: str) -> Batch | None:
    """The batch `user` created with `idempotency_key`, if any."""
    return Batch.objects.filter(owner=user, kind=Batch.Kind.UPLOAD, idempotency_key=idempotency_key).first()


def item_for(user: "User", item_id: Any) -> Item:
    parsed = _as_uuid(item_id)
    item = Item.objects.filter(pk=parsed, batch__owner=user).select_related("batch").first() if parsed else None
    if item is None:
        raise NotFound(gettext("no such item"))
    return item


def batch_items(batch: Batch) -> list[Item]:
    return list(batch.items.in_sent_order())


def batch_counts(batch: Batch) -> dict[str, int]:
    """Items by status, their total, and how many need review."""
    return batches_with_counts([batch])[0][1]


def batches_with_counts(batches: list[Batch]) -> list[tuple[Batch, dict[str, int]]]:
    """Counts for a page of batches in one query."""
    rows = (
        Item.objects.filter(batch__in=batches)
        .values_list("batch_id", "status")
        .annotate(n=Count("id"), flagged=Count("id", filter=needing_review()))
        .order_by()
    )
    by_batch: dict[uuid.UUID, dict[str, int]] = {
        batch.id: {**{status: 0 for status in Item.Status.values}, "total": 0, "needs_review": 0} for batch in batches
    }
    for batch_id, status, n, flagged in rows:
        by_batch[batch_id][status] = n
        by_batch[batch_id]["total"] += n
        by_batch[batch_id]["needs_review"] += flagged
    return [(batch, by_batch[batch.id]) for batch in batches]


def items_needing_review(batch: Batch) -> ItemQuerySet:
    """The batch's done items flagged for a look (REVIEW_CONFIDENCE_BELOW), in upload order."""
    return Item.objects.needing_review().filter(batch=batch).in_sent_order()


def items_to_improve(batch: Batch, quality: str) -> ItemQuerySet:
    """The batch's flagged items whose cutout was not made with `quality` (their own preset, set by an
    improvement, else the batch's): another run with it would give the same cutout."""
    items = items_needing_review(batch).exclude(quality=quality)
    return items.exclude(quality="") if Options.from_json(batch.options).quality == quality else items


def items_sent_before(batch: Batch, items: list[Item]) -> dict[uuid.UUID, Item]:
    """Of new `items`, those the batch holds already at their place (`position`) with the same bytes, as a request
    sent again makes them: each new item's id and the item held."""
    placed = {item.position: item for item in items if item.position is not None}
    earlier = batch.items.filter(position__in=placed) if placed else Item.objects.none()
    return {
        placed[held.position].id: held
        for held in earlier
        if held.position in placed and held.source_sha256 == placed[held.position].source_sha256
    }


def items_with_a_cutout(batch: Batch) -> QuerySet[Item]:
    """What the batch's zip holds: items done, and those being improved (with the cutout they had); Item.has_cutout
    is its row-wise form."""
    return batch.items.exclude(status=Item.Status.FAILED).exclude(result="").in_sent_order()


def item_finished(item_id: uuid.UUID) -> Item | None:
    """The item if it is done or failed, else None (for callers waiting on it); NotFound once its owner deleted
    it, NotAuthenticated once its owner's account ended (deleted: the queue takes its images no more), so that a
    caller waiting on it is told so rather than left to time out."""
    item = Item.objects.select_related("batch__owner").filter(pk=item_id).first()
    if item is None:
        raise NotFound("the image was deleted before its cutout was made")
    if not item.batch.owner.is_active and item.status not in Item.FINISHED:
        raise NotAuthenticated("this account was deleted or deactivated before the cutout was made")
    return item if item.status in Item.FINISHED else None


# The id in a /store link: .../api/v1/store/<id>, or an S3 key .../store/<id>.<ext>
_STORED_ID = re.compile(r"/store/([0-9a-fA-F-]{36})(?:[./?]|$)")


def stored_since(user: "User", since: datetime) -> tuple[int, datetime | None]:
    """The bytes of the images the user has kept with /store since `since`, and when the first of them came."""
    kept = StoredImage.objects.filter(owner=user, created_at__gte=since).aggregate(Sum("size_bytes"), Min("created_at"))
    return kept["size_bytes__sum"] or 0, kept["created_at__min"]


def stored_image_for(user: "User", reference: str) -> StoredImage:
    """The user's stored image named by its id or by the link /store returned."""
    found = _STORED_ID.search(reference)
    parsed = _as_uuid(found.group(1) if found else reference)
    image = StoredImage.objects.filter(pk=parsed, owner=user).first() if parsed else None
    if image is None:
        raise NotFound("no stored image with that id or link; upload it with /store first")
    return image


def is_stored_image_id(reference: str) -> bool:
    return _as_uuid(reference) is not None


def is_stored_image_path(path: str) -> bool:
    """Whether `path` is a /store link's (or its S3 key's); whose host it is, the caller decides."""
    return _STORED_ID.search(path) is not None


def images_on(user: "User", day: date) -> tuple[int, int]:
    """(images, of which size=preview) the user sent on `day` (UTC), whichever API they came through, deleted
    since or not."""
    usage = DailyUsage.objects.filter(owner=user, day=day).values_list("images", "previews").first()
    return usage or (0, 0)


def queued_count(owner_id: int | None = None) -> int:
    """Images waiting for a worker, server-wide or of one owner (the queue's bounds, and the fair share's
    measure of an owner's backlog)."""
    waiting = Item.objects.filter(status=Item.Status.QUEUED)
    return (waiting if owner_id is None else waiting.filter(batch__owner_id=owner_id)).count()


def usage_by_day(user: "User", *, days: int = 30) -> list[dict[str, Any]]:
    """Images finished per day of the last `days` (in the active time zone, today's included; newest first): done,
    failed, bytes in and out, processing time. Only those days are read (Item's index on finished_at): an account's
    whole history, 300,000 items after a year with RETENTION_DAYS=0, took 0.7-1.2 s at each look at its account page."""
    first_day = datetime.combine(timezone.localdate() - timedelta(days=days - 1), time.min)
    rows = (
        Item.objects.filter(batch__owner=user, finished_at__gte=timezone.make_aware(first_day))
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            done=Count("id", filter=Q(status=Item.Status.DONE)),
            failed=Count("id", filter=Q(status=Item.Status.FAILED)),
            result_bytes=Sum("result_bytes"),
            source_bytes=Sum("source_bytes"),
            processing_ms=Sum("processing_ms"),
        )
        .order_by("-day")[:days]
    )
    return [
        {
            **row,
            "result_bytes": row["result_bytes"] or 0,
            "processing_seconds": (row["processing_ms"] or 0) / 1000,
        }
        for row in rows
    ]


def usage_chart(rows: list[dict[str, Any]], *, height: int = 80, bar_width: int = 14) -> list[dict[str, Any]]:
    """Bars for the usage chart, oldest first: done and failed stacked, scaled to the busiest day."""
    busiest = max((row["done"] + row["failed"] for row in rows), default=0) or 1
    bars = []
    for index, row in enumerate(reversed(rows)):
        done_height = round(height * row["done"] / busiest)
        failed_height = round(height * row["failed"] / busiest)
        bars.append(
            {
                "x": index * (bar_width + 4),
                "width": bar_width,
                "done_y": height - done_height,
                "done_height": done_height,
                "failed_y": height - done_height - failed_height,
                "failed_height": failed_height,
                "row": row,
            }
        )
    return bars


def usage_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    first: date | None = rows[-1]["day"] if rows else None
    return {
        "since": first,
        "done": sum(row["done"] for row in rows),
        "failed": sum(row["failed"] for row in rows),
    }


# The account page lists this many of the latest webhook deliveries.
DELIVERIES_SHOWN = 20


def webhook_deliveries_for(user: "User") -> QuerySet[WebhookDelivery]:
    """The latest DELIVERIES_SHOWN of `user`'s webhook deliveries, newest first."""
    return WebhookDelivery.objects.filter(batch__owner=user).order_by("-created_at")[:DELIVERIES_SHOWN]


def batch_size(batch: Batch) -> int:
    """How many images the batch holds, whatever their state."""
    return batch.items.count()


REUSE_CANDIDATES = 20


def results_for_bytes(owner_id: Any, source_sha256: str) -> list[Item]:
    """The owner's newest finished items made from these bytes (with any options), to reuse a result from."""
    done = Item.objects.filter(batch__owner_id=owner_id, source_sha256=source_sha256, status=Item.Status.DONE)
    return list(done.select_related("batch").order_by("-finished_at")[:REUSE_CANDIDATES])


def worker_processes_live() -> QuerySet[WorkerProcess]:
    """The processes whose worker threads said they live (services.worker_process_seen) in the last
    ITEM_LEASE_SECONDS: one not renewed since is taken for dead, as its items are."""
    since = timezone.now() - timedelta(seconds=settings.ITEM_LEASE_SECONDS)
    return WorkerProcess.objects.filter(seen_at__gte=since).order_by("name")
