"""Indexes for the admin's search of a name's start (removal.admin.GrowingTable), as 0018 made for items and batches:
stored images by their file name, webhook deliveries by their URL's first 200 characters (removal.admin.
URL_START_INDEXED: a URL may hold 2,000 characters, more than an index takes in a row when they are not all ASCII),
compared in upper case as Django's `istartswith` compares them on PostgreSQL. text_pattern_ops, so that LIKE uses them
whatever the database's collation. PostgreSQL only, as 0018."""

from typing import Any

from django.db import migrations

INDEXES = {
    "storedimage_filename_prefix_idx": "removal_storedimage (UPPER(filename::text) text_pattern_ops)",
    "webhook_url_prefix_idx": "removal_webhookdelivery (UPPER(LEFT(url::text, 200)) text_pattern_ops)",
}


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for name, columns in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("removal", "0018_name_prefix_search_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
