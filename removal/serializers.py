"""The JSON shapes of batches and items, shared by the REST API and the websocket."""

from enum import StrEnum
from typing import Any

from django.conf import settings
from django.urls import reverse

from removal.cutout.options import Options
from removal.models import Batch, Item


def serialize_item(item: Item) -> dict[str, Any]:
    done = item.status == Item.Status.DONE
    cutout = item.has_cutout  # done, or being improved: the cutout it has until then
    return {
        "id": str(item.id),
        "filename": item.filename,
        "status": item.status,
        "revision": item_revision(item),
        "result": reverse("api-item-result", args=[item.id]) if cutout else None,
        "original": reverse("api-item-original", args=[item.id]),
        # Small WebPs (at most 256 pixels a side) of the result and the original, for lists of many.
        "result_thumbnail": reverse("api-item-result-thumbnail", args=[item.id]) if cutout else None,
        "original_thumbnail": reverse("api-item-original-thumbnail", args=[item.id]),
        # The original as every browser shows it (a WebP of at most 2048 pixels a side), for a HEIC or TIFF upload.
        "original_display": reverse("api-item-original-display", args=[item.id]),
        # The upload's size in bytes: with `filename`, how a client tells a file it has sent already from another.
        "original_bytes": item.source_bytes,
        "error": item.error_text() or None,  # in the page's language, where it can be (Item.error_text)
        "width": item.width,
        "height": item.height,
        "processing_ms": item.processing_ms,
        "cached": item.cached,
        # True while the result is a hand-edited revision (POST .../mask); DELETE .../mask reverts.
        "edited": bool(item.model_result),
        # Where a hand edit starts from and is sent; null without a kept mask (animations, older items).
        "mask": reverse("api-item-mask", args=[item.id]) if done and item.mask else None,
        **review_fields(item),
        "reviewed": item.reviewed,
        "quality": item_quality(item),
    }


def review_fields(item: Item) -> dict[str, Any]:
    """How sure the model is of the cutout (0-1, null before it is made) and whether it is flagged for a look;
    in every reply that reports a cutout (batch API, websocket, webhook, manifest, PixLab)."""
    return {
        "confidence": round(item.confidence, 3) if item.confidence is not None else None,
        "needs_review": item.needs_review,
    }


def review_headers(item: Item) -> dict[str, str]:
    """review_fields as response headers, for replies whose body is the image (remove.bg, PixLab's blob)."""
    fields = review_fields(item)
    if fields["confidence"] is None:
        return {}
    return {"X-Confidence": f"{fields['confidence']:.3f}", "X-Needs-Review": str(fields["needs_review"]).lower()}


def item_quality(item: Item) -> str:
    """The quality preset of the item's current (or coming) result: its own, else its batch's."""
    return item.quality or Options.from_json(item.batch.options).quality


# Where each status sits within one processing attempt, for item_revision.
_STATUS_RANK = {Item.Status.PROCESSING: 0, Item.Status.DONE: 1, Item.Status.FAILED: 1, Item.Status.QUEUED: 2}


def item_revision(item: Item) -> int:
    """A number that grows with every state change of the item.

    Progress events are sent from several threads and processes, so a client can
    receive an older state after a newer one; it keeps the highest revision.
    Each attempt goes processing -> done/failed or back to queued (retry), and
    `attempts` counts claims, so attempts * 3 + rank never goes backwards. A done
    item is never claimed again; its saved edits and reverts count on from there.
    """
    return item.attempts * 3 + _STATUS_RANK[Item.Status(item.status)] + item.edits


def batch_links(batch: Batch) -> dict[str, str]:
    """Where the batch's progress (the websocket, removal.web.routing) and its zip are: in its JSON, and on its page
    for the page's script."""
    return {"ws": f"/ws/batches/{batch.id}", "zip": reverse("api-batch-zip", args=[batch.id])}


def serialize_batch_summary(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(batch.id),
        "name": batch.name,  # "" for none (PATCH /api/v1/batches/<id> names it)
        "status": batch_status(counts),
        "created_at": batch.created_at.isoformat(),
        "counts": counts,
        **batch_links(batch),
        "manifest": reverse("api-batch-manifest", args=[batch.id]),
        "options": batch.options,
        # Items less sure than this are flagged `needs_review` (REVIEW_CONFIDENCE_BELOW).
        "review_below": settings.REVIEW_CONFIDENCE_BELOW,
        # How many times its flagged items were made again with best (POST .../improve).
        "improvements": batch.improvements,
    }


def serialize_batch(batch: Batch, items: list[Item], counts: dict[str, int]) -> dict[str, Any]:
    return {**serialize_batch_summary(batch, counts), "items": [serialize_item(item) for item in items]}


def serialize_manifest(
    batch: Batch, items: list[Item], member_names: dict[Any, str], *, errors: dict[Any, str] | None = None
) -> dict[str, Any]:
    """What the zip's manifest.json and GET /api/v1/batches/<id>/manifest hold: one entry per item. `errors`: what
    the zip says of an item instead of its own error (a cutout it leaves out)."""
    errors = errors or {}
    return {
        "batch": str(batch.id),
        "name": batch.name,
        "created_at": batch.created_at.isoformat(),
        "options": batch.options,
        "items": [
            _manifest_entry(item, member_names.get(item.id), batch.options, errors.get(item.id)) for item in items
        ],
    }


def _manifest_entry(item: Item, output_name: str | None, options: dict[str, Any], error: str | None) -> dict[str, Any]:
    zipped = output_name is not None  # its cutout is in the zip (an item being improved: the one it had)
    return {
        "id": str(item.id),
        "original_name": item.filename,
        "output_name": output_name,
        "status": item.status,
        "error": error or item.error or None,
        "width": item.width,
        "height": item.height,
        "bytes": item.result_bytes if zipped else None,
        "sha256": (item.result_sha256 or None) if zipped else None,
        "options": options,
        "model": item.model or None,
        "quality": item_quality(item),
        "cached": item.cached,
        "edited": bool(item.model_result),
        "reviewed": item.reviewed,
        **review_fields(item),
    }


class BatchStatus(StrEnum):
    """A batch's status in its JSON, read from its items' counts (batch_status): it has no column of its own."""

    PROCESSING = "processing"
    DONE = "done"
    EMPTY = "empty"


def batch_status(counts: dict[str, int]) -> BatchStatus:
    """Processing while any item waits or runs, then done (also when some failed)."""
    if counts["total"] == 0:
        return BatchStatus.EMPTY
    if counts[Item.Status.QUEUED] or counts[Item.Status.PROCESSING]:
        return BatchStatus.PROCESSING
    return BatchStatus.DONE
