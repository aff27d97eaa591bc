"""The operators' admin: every model listed with search and filters, secrets never shown."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.services import api_key_create
from removal import services
from tests.conftest import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/auth/user/?q=alice",
        "/admin/accounts/apikey/?q=bgs_&revoked_at__isnull=True",
        "/admin/removal/batch/?q=alice&kind__exact=upload",
        "/admin/removal/item/?q=photo&status__exact=done",
        "/admin/removal/storedimage/?q=x",
        "/admin/django_tasks_database/dbtaskresult/?status__exact=READY",
    ],
)
def test_changelists_with_search_and_filters(admin_client: Client, user: Any, path: str) -> None:
    make_item(services.batch_create(owner=user))
    api_key_create(user=user, name="shop")
    assert admin_client.get(path).status_code == 200


def test_api_key_hash_is_never_shown(admin_client: Client, user: Any) -> None:
    key, plain = api_key_create(user=user, name="shop")
    page = admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in page
    assert key.secret_hash not in page and plain not in page
    assert admin_client.get("/admin/accounts/apikey/add/").status_code == 403


def test_admin_is_for_staff_only(client: Client, user: Any) -> None:
    client.force_login(user)
    assert client.get("/admin/removal/item/").status_code == 302
