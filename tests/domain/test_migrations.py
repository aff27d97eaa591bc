"""Data migrations, run forwards on rows made by the migration before them."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


@pytest.fixture(autouse=True)
def latest_schema_after() -> Iterator[None]:
    """Each test leaves the database migrated to the end again: the tests after it in this process need it."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_daily_usage_starts_from_the_items_kept(user: Any, other_user: Any) -> None:
    """0006 counts each account's images per day from its items, previews apart (the quota's past days)."""
    executor = MigrationExecutor(connection)
    executor.migrate([("removal", "0005_batch_improvements")])
    old = executor.loader.project_state([("removal", "0005_batch_improvements")]).apps
    batch_model, item_model = old.get_model("removal", "Batch"), old.get_model("removal", "Item")
    for owner, options, count in ((user, {}, 2), (user, {"size_preview": True}, 1), (other_user, {}, 1)):
        batch = batch_model.objects.create(owner_id=owner.pk, options=options)
        for _ in range(count):
            item_model.objects.create(
                batch=batch, filename="p.jpg", source="x", source_bytes=1, width=1, height=1, queued_at=timezone.now()
            )

    executor = MigrationExecutor(connection)
    executor.migrate([("removal", "0006_daily_usage")])
    usage = executor.loader.project_state([("removal", "0006_daily_usage")]).apps.get_model("removal", "DailyUsage")

    today = timezone.now().date()
    assert {(row.owner_id, row.day, row.images, row.previews) for row in usage.objects.all()} == {
        (user.pk, today, 3, 1),
        (other_user.pk, today, 1, 0),
    }
