"""Deleting an account from the account page: every row and every stored file of the user goes."""

import logging
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult

from accounts.models import ApiKey, WebhookSecret
from accounts.services import api_key_create, webhook_secret_for
from removal import services
from removal.models import Batch, Item, StoredImage
from removal.ops.worker import run_ready_jobs
from tests.conftest import half_mask, photo_bytes

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def give_data(owner: Any) -> list[str]:
    """A processed batch with an edited revision, a queued one, a stored image, a key: their file names."""
    batch = services.batch_create(owner=owner)
    upload = SimpleUploadedFile("p.jpg", photo_bytes("coffee.png", size=(160, 120)))
    (item,), _ = services.batch_add_files(batch=batch, files=[upload])
    run_ready_jobs()
    item.refresh_from_db()
    services.item_mask_save(item=item, mask_png=half_mask((160, 120)))
    services.batch_add_files(
        batch=services.batch_create(owner=owner), files=[SimpleUploadedFile("q.jpg", photo_bytes())]
    )
    stored = services.stored_image_create(owner=owner, upload=SimpleUploadedFile("s.jpg", photo_bytes()))
    api_key_create(user=owner, name="script")
    webhook_secret_for(user=owner)
    item.refresh_from_db()
    return [name for name in (*(str(getattr(item, f)) for f in Item.FILE_FIELDS), str(stored.file)) if name]


def test_wrong_password_deletes_nothing(client: Any, user: Any) -> None:
    give_data(user)
    client.force_login(user)
    response = client.post("/accounts/delete/", {"password": "not it"})
    assert response.status_code == 200 and "That is not your password." in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists() and Batch.objects.filter(owner=user).count() == 2


def test_deleting_the_account_leaves_no_row_and_no_file(
    client: Any, user: Any, other_user: Any, settings: Any, caplog: Any
) -> None:
    files = give_data(user)
    stray = default_storage.save(f"users/{user.pk}/batches/interrupted/cutout-abc.png", ContentFile(b"x"))
    others = give_data(other_user)
    assert len(files) >= 5 and all(default_storage.exists(name) for name in files)
    user_folder = Path(settings.MEDIA_ROOT) / "users" / str(user.pk)
    item_ids = [str(pk) for pk in Item.objects.filter(batch__owner=user).values_list("id", flat=True)]

    client.force_login(user)
    assert client.get("/accounts/").content.decode().count('href="/accounts/delete/"') == 1
    with caplog.at_level(logging.INFO):
        response = client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0].startswith("/")
    assert "Your account and all its data were deleted." in response.content.decode()
    assert not response.context["user"].is_authenticated

    assert not User.objects.filter(pk=user.pk).exists()
    for model, owner_field in ((Batch, "owner"), (StoredImage, "owner"), (ApiKey, "user"), (WebhookSecret, "user")):
        assert not model.objects.filter(**{f"{owner_field}_id": user.pk}).exists(), model
    assert not Item.objects.filter(pk__in=item_ids).exists()
    assert not DBTaskResult.objects.filter(args_kwargs__args__0__in=item_ids).exists()
    assert not any(default_storage.exists(name) for name in [*files, stray])
    assert not user_folder.exists()

    assert all(default_storage.exists(name) for name in others)
    assert Batch.objects.filter(owner=other_user).count() == 2

    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("removal.services", "accounts.services"))
    )
    assert "deleted an account's data: 2 batches, 2 items, 1 stored images" in logged
    assert "an account was deleted, with its 1 API keys" in logged
    assert "alice" not in logged and "example.com" not in logged


def test_the_address_is_told_of_the_deletion_in_the_accounts_language(client: Any, user: Any, mailoutbox: Any) -> None:
    """Deleted by someone who had the password (a session left open), the account's owner learns it."""
    client.force_login(user)
    client.post("/accounts/delete/", {"password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="fr")
    (notice,) = mailoutbox
    assert notice.to == ["alice@example.com"] and notice.subject == "Votre compte bgsite sur testserver a été supprimé"
    assert "Bonjour alice," in notice.body and "votre mot de passe" in notice.body
    assert not User.objects.filter(pk=user.pk).exists()


def test_deleting_a_user_in_the_admin_removes_the_files_too(user: Any) -> None:
    files = give_data(user)
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    from django.test import Client

    admin = Client()
    admin.login(username="root", password=PASSWORD)
    response = admin.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert not any(default_storage.exists(name) for name in files)
