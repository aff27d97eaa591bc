"""Review: a person's look at a flagged cutout ("looks fine"), and flagged items made again with quality=best.

A cutout less sure than REVIEW_CONFIDENCE_BELOW needs review until someone edits it
(removal.services.edits) or marks it reviewed here. `batch_improve` queues a batch's
flagged items again in place, with their own quality preset; the worker keeps the
result they had as `previous_result`.
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from accounts.services import account_locked
from removal import selectors
from removal.cutout.options import Options
from removal.models import Batch, Item
from removal.services.edits import ItemNotEditable, locked_current
from removal.services.queueing import (
    announce_after_commit,
    enqueue_processing,
    own_queue_waiting,
    whole_queue_room_held,
)
from removal.services.usage import usage_counted
from removal.translated import in_language

Status = Item.Status
IMPROVED_QUALITY = "best"


class NothingToImprove(Exception):
    """No item of the batch needs review, so there is nothing to run again."""


def item_review(*, item: Item) -> Item:
    """Mark a finished item as looked at: it no longer needs review (its result is unchanged)."""
    with transaction.atomic():
        current = locked_current(item)
        if current.status != Status.DONE:
            raise ItemNotEditable(
                gettext("this item is %(status)s; only a finished cutout can be reviewed")
                % {"status": current.get_status_display()}
            )
        if not current.reviewed:
            current.reviewed = True
            current.edits += 1  # a new state: the revision grows, so pages take the event
            current.save(update_fields=["reviewed", "edits"])
            announce_after_commit(current)
    return current


def batch_improve(*, batch: Batch, quality: str = IMPROVED_QUALITY) -> list[Item]:
    """Queue the batch's items that need review again, in place, with `quality`; the items queued.

    Raises NothingToImprove when none needs review, or every one that does was made with `quality` already
    (another run would give the same cutout: a person's look is what it needs).
    """
    now = timezone.now()
    with transaction.atomic():
        account_locked(user_id=batch.owner_id)  # before the items, as an upload takes it before its batch
        items = list(selectors.items_to_improve(batch, quality).select_for_update().select_related("batch"))
        if not items:
            raise NothingToImprove(_nothing_to_improve(batch, quality))
        waiting = own_queue_waiting(batch.owner_id)
        Batch.objects.filter(pk=batch.pk).update(improvements=F("improvements") + 1)  # its finish is news again
        # Each is made again: it counts as an upload does.
        usage_counted(
            batch=batch, images=len(items), preview=Options.from_json(batch.options).size_preview, day=now.date()
        )
        for position, item in enumerate(items):
            item.status, item.quality, item.queued_at, item.counted_on = Status.QUEUED, quality, now, now.date()
            item.attempts_before, item.claim_token, item.lease_until = item.attempts, "", None
            error_fields = item.error_cleared()  # an earlier improvement's failure
            item.task_id = enqueue_processing(item.id, kind=batch.kind, waiting_ahead=waiting + position)
            item.save(
                update_fields=[
                    "status",
                    "quality",
                    "queued_at",
                    "counted_on",
                    "attempts_before",
                    "claim_token",
                    "lease_until",
                    "task_id",
                    *error_fields,
                ]
            )
        announce_after_commit(*items)
        whole_queue_room_held(queued_now=len(items))  # last: its lock is held for the count and the commit only
    return items


def _nothing_to_improve(batch: Batch, quality: str) -> str:
    flagged = selectors.items_needing_review(batch).count()
    unfinished = batch.items.exclude(status__in=Item.FINISHED).count()
    if not flagged and unfinished:
        return in_language(
            gettext_noop("no finished item of this batch needs review now (%(count)s still being made)"),
            {"count": unfinished},
        )
    if not flagged:
        return gettext("no item of this batch needs review, so there is nothing to improve")
    return in_language(
        gettext_noop(
            "every flagged cutout of this batch (%(count)s) was made with quality=%(quality)s already, and another "
            "run would give the same cutout: look at each, then edit it or mark it fine"
        ),
        {"count": flagged, "quality": quality},
    )
