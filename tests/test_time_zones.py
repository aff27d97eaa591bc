"""bgsite.time_zones: the pages' times in the browser's zone, from the cookie static/js/language.js keeps."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from removal.models import Batch, Item
from tests.conftest import make_item

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("cookie", "shown"),
    [
        ("Asia/Tokyo", "12/06/2026 8:30 a.m."),  # UTC+9: the next morning
        ("America/New_York", "12/05/2026 6:30 p.m."),
        ("", "12/05/2026 11:30 p.m."),  # not known yet: UTC
        ("../../etc/passwd", "12/05/2026 11:30 p.m."),  # not a zone's name: UTC, and nothing opened
        ("Mars/Olympus_Mons", "12/05/2026 11:30 p.m."),
    ],
)
def test_the_batch_list_shows_times_in_the_browsers_zone(client: Client, user: Any, cookie: str, shown: str) -> None:
    batch = Batch.objects.create(owner=user)
    Batch.objects.filter(pk=batch.pk).update(created_at=datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    client.force_login(user)
    client.cookies["time_zone"] = cookie
    page = client.get("/batches/", headers={"Accept-Language": "en"}).content.decode()
    assert f">{shown}</time>" in page


def test_the_account_page_counts_days_in_the_browsers_zone(client: Client, user: Any) -> None:
    """Its usage by day groups work by the visitor's days (the daily quota keeps UTC days)."""
    make_item(Batch.objects.create(owner=user), processing_ms=1500)
    Item.objects.update(finished_at=datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    client.force_login(user)
    for zone, day in (("Asia/Tokyo", "12/06/2026"), ("UTC", "12/05/2026")):
        client.cookies["time_zone"] = zone
        page = client.get("/accounts/", headers={"Accept-Language": "en"}).content.decode()
        assert f"<tr><td>{day}</td><td>1</td>" in page


def test_a_zip_is_named_after_the_visitors_day() -> None:
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from removal.services import zip_filename

    batch = Batch(created_at=datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        assert zip_filename(batch).startswith("cutouts-2026-12-06-")
    assert zip_filename(batch).startswith("cutouts-2026-12-05-")  # a program's call: UTC
