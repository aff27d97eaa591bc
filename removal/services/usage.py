"""The daily quota's count: images counted against their owner's day when accepted, and given back where they
made nothing that was charged for (remove.bg's no-subject reply, an improvement whose every run failed, an image
that failed for the server's reasons: services.processing)."""

from datetime import date

from django.conf import settings
from django.db.models import F
from django.db.models.lookups import LessThanOrEqual

from removal.cutout.options import Options
from removal.models import Batch, DailyUsage, Item
from removal.ops import limits


def usage_counted(*, batch: Batch, images: int, preview: bool, day: date) -> None:
    """The images counted against the owner's `day` (today, UTC: the daily quota), for good: deleting them gives
    nothing back. The caller notes `day` on each item (Item.counted_on), for a refund.

    QuotaExceeded (the caller's transaction then keeps nothing) when they would pass DAILY_IMAGE_QUOTA: one UPDATE
    checks and counts, so requests that passed limits.check_daily_quota side by side cannot all be counted.
    """
    usage, _ = DailyUsage.objects.get_or_create(owner_id=batch.owner_id, day=day)
    previews = images if preview else 0
    counted = DailyUsage.objects.filter(pk=usage.pk)
    if quota := settings.DAILY_IMAGE_QUOTA:
        after = limits.credits_used(F("images") + images, F("previews") + previews)
        counted = counted.filter(LessThanOrEqual(after, quota))
    if not counted.update(images=F("images") + images, previews=F("previews") + previews):
        left = limits.credits_left_today(batch.owner)
        raise limits.quota_exceeded(left=left or 0.0, credits=limits.credits_used(images, previews))


def usage_given_back(*, item: Item) -> None:
    """`item`'s image given back, at its batch's cost, to the day it was last counted (its upload's, or its
    improvement's: Item.counted_on; an item from before that was kept, its batch's day)."""
    preview = int(Options.from_json(item.batch.options).size_preview)
    day = item.counted_on or item.batch.created_at.date()
    DailyUsage.objects.filter(owner_id=item.batch.owner_id, day=day, images__gte=1, previews__gte=preview).update(
        images=F("images") - 1, previews=F("previews") - preview
    )
