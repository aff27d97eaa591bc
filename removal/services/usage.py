"""The daily quota's count: images counted against their owner's day when accepted, and given back where they
made nothing that was charged for (remove.bg's no-subject reply, an improvement whose every run failed)."""

from datetime import date

from django.conf import settings
from django.db.models import F
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from removal.cutout.options import Options
from removal.models import Batch, DailyUsage, Item
from removal.ops import limits


def usage_counted(batch: Batch, images: int, *, preview: bool) -> None:
    """The images counted against the owner's day (the daily quota), for good: deleting them gives nothing back.

    QuotaExceeded (the caller's transaction then keeps nothing) when they would pass DAILY_IMAGE_QUOTA: one UPDATE
    checks and counts, so requests that passed limits.check_daily_quota side by side cannot all be counted.
    """
    usage, _ = DailyUsage.objects.get_or_create(owner_id=batch.owner_id, day=timezone.now().date())
    previews = images if preview else 0
    counted = DailyUsage.objects.filter(pk=usage.pk)
    if quota := settings.DAILY_IMAGE_QUOTA:
        after = limits.credits_used(F("images") + images, F("previews") + previews)
        counted = counted.filter(LessThanOrEqual(after, quota))
    if not counted.update(images=F("images") + images, previews=F("previews") + previews):
        left = limits.credits_left_today(batch.owner)
        raise limits.quota_exceeded(left=left or 0.0, credits=limits.credits_used(images, previews))


def usage_given_back(item: Item, *, day: date) -> None:
    """One image of `item`'s batch given back to its owner's `day` (the day it was counted), at its batch's cost."""
    preview = Options.from_json(item.batch.options).size_preview
    DailyUsage.objects.filter(owner_id=item.batch.owner_id, day=day, images__gte=1).update(
        images=F("images") - 1, previews=F("previews") - int(preview)
    )
