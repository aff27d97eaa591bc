"""The admin's history entries logged before bgsite.admin_history named the fields a change changed by their English
form labels ("Last name", "User permissions"), which no catalog holds: those entries read in English in every
language. Each such label of a model field is rewritten to the field's name ("last name"), as entries are logged now,
which the catalogs translate. Labels of fields a model no longer has, and of a form's own fields, stay as they are."""

import json

from django.conf import settings
from django.db import migrations
from django.utils.text import capfirst


def _labels_to_names(model):
    """{English form label: English field name} for `model`'s fields."""
    names = {}
    for field in model._meta.get_fields():
        name = getattr(field, "verbose_name", None)
        if name is not None:
            names[str(capfirst(name))] = str(name)
    return names


def _renamed(message, names):
    """The change message with its own fields' labels renamed, or None where nothing changed."""
    renamed = False
    for part in message:
        changed = part.get("changed") if isinstance(part, dict) else None
        if not isinstance(changed, dict) or "name" in changed:  # an inline row's change keeps its labels
            continue
        fields = changed.get("fields") or []
        new = [names.get(label, label) if isinstance(label, str) else label for label in fields]
        if new != fields:
            changed["fields"], renamed = new, True
    return message if renamed else None


def history_by_field_names(apps, schema_editor):
    LogEntry = apps.get_model("admin", "LogEntry")
    names_by_type = {}
    entries = LogEntry.objects.filter(change_message__contains='"changed"').exclude(content_type=None)
    for entry in entries.only("id", "change_message", "content_type").iterator(chunk_size=2000):
        try:
            message = json.loads(entry.change_message)
        except ValueError:
            continue
        if not isinstance(message, list):
            continue
        if entry.content_type_id not in names_by_type:
            content_type = entry.content_type
            try:
                model = apps.get_model(content_type.app_label, content_type.model)
            except LookupError:  # a model since removed
                model = None
            names_by_type[entry.content_type_id] = _labels_to_names(model) if model else {}
        renamed = _renamed(message, names_by_type[entry.content_type_id])
        if renamed is not None:
            LogEntry.objects.filter(pk=entry.pk).update(change_message=json.dumps(renamed))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_admin_names_for_translation"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("removal", "0026_admin_names_of_jobs_and_workers"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(history_by_field_names, migrations.RunPython.noop, elidable=True)]
