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


@pytest.mark.django_db(transaction=True)
def test_history_logged_by_labels_reads_in_the_readers_language(user: Any) -> None:
    """accounts.0009 renames the English form labels that history entries logged before bgsite.admin_history to the
    fields' names the catalogs translate; an inline row's labels, a form's own field and plain text stay."""
    import json

    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.utils import translation

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0008_admin_names_for_translation")])
    users = ContentType.objects.get(app_label="auth", model="user")
    old = [
        {"changed": {"fields": ["Last name", "User permissions", "Favourite colour"]}},
        {"changed": {"name": "item", "object": "p.jpg", "fields": ["Last name"]}},
    ]
    logged = [json.dumps(old), "Changed Last name by hand."]
    entries = [
        LogEntry.objects.create(
            user_id=user.pk,
            content_type=users,
            object_id=str(user.pk),
            object_repr="x",
            action_flag=2,
            change_message=message,
        )
        for message in logged
    ]

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0009_history_by_field_names")])

    structured, plain = (LogEntry.objects.get(pk=entry.pk) for entry in entries)
    assert json.loads(structured.change_message) == [
        {"changed": {"fields": ["last name", "user permissions", "Favourite colour"]}},
        {"changed": {"name": "item", "object": "p.jpg", "fields": ["Last name"]}},
    ]
    assert plain.change_message == "Changed Last name by hand."
    with translation.override("de"):
        assert structured.get_change_message() == (
            "Nachname, Berechtigungen und Favourite colour geändert. Last name für Element „p.jpg“ geändert."
        )
