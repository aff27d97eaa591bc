"""Indexes for the admin's search of a name's start (removal.admin.GrowingTable): items by their file name, batches by
their name, compared in upper case as Django's `istartswith` compares them on PostgreSQL
(UPPER("filename"::text) LIKE UPPER('img_47%')). text_pattern_ops, so that LIKE uses them whatever the database's
collation. PostgreSQL only: SQLite's LIKE compares without case by itself, and no SQLite installation is that large.
"""

from typing import Any

from django.db import migrations

INDEXES = {
    "item_filename_prefix_idx": "removal_item (UPPER(filename::text) text_pattern_ops)",
    "batch_name_prefix_idx": "removal_batch (UPPER(name::text) text_pattern_ops)",
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
    dependencies = [("removal", "0017_webhook_delivery_held")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
