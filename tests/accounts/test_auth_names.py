"""accounts.auth_names: a permission named in the reader's language, from its model's names and what it allows."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.utils import translation
from django.utils.translation import gettext_lazy, trans_real

from accounts.auth_names import permission_name
from removal.models import Batch
from tests.domain.test_admin_languages import CLOSE, OPEN, EveryMessageMarked

pytestmark = pytest.mark.django_db
BATCH = f"{OPEN}Background removal{CLOSE} | {OPEN}batch{CLOSE}"  # the app's name and the model's


@pytest.fixture(autouse=True)
def _in_marked_german(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(trans_real._translations, "de", EveryMessageMarked(trans_real.translation("de")))
    translation.activate("de")


def batch_permission(codename: str, name: str) -> Permission:
    content_type = ContentType.objects.get_for_model(Batch)
    return Permission.objects.get_or_create(codename=codename, content_type=content_type, defaults={"name": name})[0]


def test_a_permission_django_made_is_named_by_its_action_and_models_name() -> None:
    permission = batch_permission("delete_batch", "Can delete batch")
    assert permission_name(permission) == f"{BATCH} | {OPEN}Can delete {OPEN}batch{CLOSE}{CLOSE}"


def test_a_permission_the_model_declares_is_named_as_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Batch._meta, "permissions", [("purge_batch", gettext_lazy("Can purge batches"))])
    permission = batch_permission("purge_batch", "Can purge batches")
    assert permission_name(permission) == f"{BATCH} | {OPEN}Can purge batches{CLOSE}"


def test_a_permission_the_model_no_longer_declares_keeps_its_name() -> None:
    assert permission_name(batch_permission("export_batch", "Can export")) == f"{BATCH} | Can export"


def test_a_permission_of_a_model_no_longer_installed_reads_as_its_row() -> None:
    gone = ContentType.objects.create(app_label="gone", model="thing")
    permission = Permission.objects.create(codename="add_thing", name="Can add thing", content_type=gone)
    assert permission_name(permission) == "gone | thing | Can add thing"
