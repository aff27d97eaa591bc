"""Reads. Anything looked up by an id from a request is scoped to its owner here."""

import uuid
from typing import Any

from django.db.models import Count, QuerySet

from removal.errors import NotFound
from removal.models import Batch, Item


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def batches_for(user: Any) -> QuerySet[Batch]:
    return Batch.objects.filter(owner=user).order_by("-created_at")


def batch_for(user: Any, batch_id: Any) -> Batch:
    """The user's batch with that id; another user's batch is indistinguishable from none."""
    parsed = _as_uuid(batch_id)
    batch = batches_for(user).filter(pk=parsed).first() if parsed else None
    if batch is None:
        raise NotFound("no such batch")
    return batch


def item_for(user: Any, item_id: Any) -> Item:
    parsed = _as_uuid(item_id)
    item = Item.objects.filter(pk=parsed, batch__owner=user).select_related("batch").first() if parsed else None
    if item is None:
        raise NotFound("no such item")
    return item


def batch_items(batch: Batch) -> list[Item]:
    return list(batch.items.order_by("created_at", "id"))


def batch_counts(batch: Batch) -> dict[str, int]:
    by_status = dict(batch.items.values_list("status").annotate(n=Count("id")).order_by())
    counts = {status: by_status.get(status, 0) for status in Item.Status.values}
    counts["total"] = sum(by_status.values())
    return counts


def batches_with_counts(batches: list[Batch]) -> list[tuple[Batch, dict[str, int]]]:
    """Counts for a page of batches in one query."""
    rows = Item.objects.filter(batch__in=batches).values_list("batch_id", "status").annotate(n=Count("id")).order_by()
    by_batch: dict[uuid.UUID, dict[str, int]] = {
        batch.id: {**{status: 0 for status in Item.Status.values}, "total": 0} for batch in batches
    }
    for batch_id, status, n in rows:
        by_batch[batch_id][status] = n
        by_batch[batch_id]["total"] += n
    return [(batch, by_batch[batch.id]) for batch in batches]


def done_items(batch: Batch) -> QuerySet[Item]:
    return batch.items.filter(status=Item.Status.DONE).order_by("created_at", "id")
