"""removal.services.usage: images counted against their owner's day when accepted, and given back to that day."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from removal import services
from removal.cutout.options import Options
from removal.models import Batch, DailyUsage, Item
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def accepted_item(user: Any, options: dict[str, Any] | None = None) -> Item:
    batch = services.batch_create(owner=user, options=Options.from_json(options or {}))
    upload = SimpleUploadedFile("p.jpg", photo_bytes("coffee.png", size=(160, 120)))
    (item,), _ = services.batch_add_files(batch=batch, files=[upload])
    return item


def counted(user: Any, day: Any) -> tuple[int, int] | None:
    return DailyUsage.objects.filter(owner=user, day=day).values_list("images", "previews").first()


def test_an_accepted_image_notes_the_day_it_was_counted(user: Any) -> None:
    item = accepted_item(user)
    today = timezone.now().date()
    assert Item.objects.get(pk=item.pk).counted_on == today and counted(user, today) == (1, 0)


def test_an_image_is_given_back_to_the_day_it_was_counted_not_to_today(user: Any) -> None:
    """An improvement queued before midnight that fails after it: its image goes back to the day before."""
    item = accepted_item(user, {"size_preview": True})
    yesterday = timezone.now().date() - timedelta(days=1)
    DailyUsage.objects.create(owner=user, day=yesterday, images=3, previews=3)
    Item.objects.filter(pk=item.pk).update(counted_on=yesterday)

    services.usage_given_back(item=Item.objects.select_related("batch").get(pk=item.pk))

    assert counted(user, yesterday) == (2, 2) and counted(user, timezone.now().date()) == (1, 1)


def test_a_refund_never_takes_a_day_below_nothing(user: Any) -> None:
    item = accepted_item(user, {"size_preview": True})
    today = timezone.now().date()
    DailyUsage.objects.filter(owner=user, day=today).update(images=1, previews=0)  # counted some other way

    services.usage_given_back(item=item)

    assert counted(user, today) == (1, 0)


def test_an_item_from_before_the_day_was_noted_is_given_back_to_its_batchs_day(user: Any) -> None:
    item = accepted_item(user)
    Item.objects.filter(pk=item.pk).update(counted_on=None)
    Batch.objects.filter(pk=item.batch_id).update(created_at=timezone.now() - timedelta(days=2))
    two_days_ago = timezone.now().date() - timedelta(days=2)
    DailyUsage.objects.create(owner=user, day=two_days_ago, images=5)

    services.usage_given_back(item=Item.objects.select_related("batch").get(pk=item.pk))

    assert counted(user, two_days_ago) == (4, 0)
