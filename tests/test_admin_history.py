"""bgsite.admin_history: a change made in the admin is logged by the model's names of the fields it changed, which the
history shows in its reader's language."""

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import translation


@pytest.mark.django_db
def test_a_users_history_names_the_fields_changed_in_the_readers_language(client: Client, user: Any) -> None:
    """Django logged "Last name" and "User permissions", which no catalog translates: German read them in English."""
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    form = {"username": user.username, "email": user.email, "last_name": "Ramona", "is_active": "on"}
    form |= {"date_joined_0": "2026-01-01", "date_joined_1": "00:00"}
    form |= {"user_permissions": [Permission.objects.get(codename="view_batch").pk]}

    assert client.post(f"/admin/auth/user/{user.pk}/change/", form).status_code == 302

    (entry,) = LogEntry.objects.filter(object_id=str(user.pk))
    with translation.override("de"):
        assert entry.get_change_message() == "Nachname, Berechtigungen und Mitglied seit geändert."
    assert entry.get_change_message() == "Changed last name, user permissions and date joined."
