"""bgsite.time_zones: the pages' times in the browser's zone, from the cookie static/js/language.js keeps."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from removal.models import Batch

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
