"""Stored files that no row names (services.orphaned_files_sweep): what a process killed mid-upload or mid-job left
goes once it is a day old, on local storage and on S3 (moto's server, a bucket of this module's own, since a sweep
takes every file of the bucket that this test database does not name)."""

import io
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from removal import services
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from removal.services.files import batch_folder, stored_files_under
from tests.conftest import S3Server, half_mask, photo_bytes, run_deferred_file_deletions, start_s3_server

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def private_s3() -> Iterator[S3Server]:
    server, process = start_s3_server("bgsite-sweep")
    yield server
    process.kill()
    process.wait()


@pytest.fixture
def s3_storage(settings: Any, private_s3: S3Server) -> Iterator[S3Server]:
    """default_storage is the module's bucket, emptied after the test."""
    for name, value in private_s3.env.items():
        setattr(settings, name, value)
    settings.AWS_S3_FILE_OVERWRITE, settings.AWS_DEFAULT_ACL = False, None  # as bgsite/settings.py sets them
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "removal.storage.LinkingS3Storage"}}
    yield private_s3
    client = private_s3.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=private_s3.bucket):
        if objects := [{"Key": entry["Key"]} for entry in page.get("Contents", ())]:  # a listing's page at a time
            client.delete_objects(Bucket=private_s3.bucket, Delete={"Objects": objects, "Quiet": True})
    assert client.list_objects_v2(Bucket=private_s3.bucket)["KeyCount"] == 0


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> str:
    """The test on local storage, then on S3."""
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    return str(request.param)


def upload(name: str = "p.jpg", photo: str = "coffee.png") -> Any:
    return SimpleUploadedFile(name, photo_bytes(photo, size=(160, 120)))


def background() -> Any:
    return SimpleUploadedFile("bg.jpg", photo_bytes("astronaut.png", size=(160, 120)))


def all_stored() -> set[str]:
    return set(stored_files_under("users/"))


def sweep_of_every_age() -> int:
    """A sweep that takes every file no row names, however new (a stored name's time has whole seconds on S3)."""
    return services.orphaned_files_sweep(older_than=timezone.now() + timedelta(seconds=2))


def aged(names: set[str], *, hours: float) -> None:
    """Local files made to look written `hours` ago."""
    then = time.time() - hours * 3600
    for name in names:
        os.utime(default_storage.path(name), (then, then))


def test_files_no_row_names_go_once_a_day_old_and_not_before(user: Any) -> None:
    """A web process killed mid-upload had stored a new batch's uploads and background, or an image added to an
    existing batch, before the rows naming them committed: no purge ever found them, and they stayed until the
    account was deleted (or, in an existing batch's folder, until the batch was)."""
    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload()])
    run_ready_jobs()
    named = all_stored()
    never_committed = f"users/{user.pk}/batches/{uuid.uuid4()}/"
    orphans = {
        default_storage.save(f"{never_committed}background.jpg", ContentFile(b"bg")),
        default_storage.save(f"{never_committed}{uuid.uuid4()}/source.jpg", ContentFile(b"photo")),
        default_storage.save(f"{batch_folder(batch)}{uuid.uuid4()}/source.jpg", ContentFile(b"photo")),
        default_storage.save(f"users/{user.pk}/store/{uuid.uuid4()}.jpg", ContentFile(b"photo")),
    }

    aged(named | orphans, hours=23)  # an upload may still be committing its rows
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    run_deferred_file_deletions()
    assert "deleting 0 stored files that no row names" in out.getvalue()
    assert all_stored() == named | orphans

    aged(named | orphans, hours=25)
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "deleting 4 stored files that no row names" in out.getvalue()
    assert all_stored() == named | orphans  # as every deletion, DELETED_FILES_KEPT_SECONDS later
    run_deferred_file_deletions()
    assert all_stored() == named


def test_every_file_a_row_names_outlives_a_sweep(user: Any, storage: str) -> None:
    """Uploads, cutouts, masks, a hand edit's revision and the model's result it keeps, an improvement's previous
    result, reused copies, thumbnails and display images, a background and a /store image: none is an orphan."""
    batch = services.batch_create(owner=user, background=background())
    (edited, improved), _ = services.batch_add_files(
        batch=batch, files=[upload("a.jpg"), upload("b.jpg", "astronaut.png")]
    )
    run_ready_jobs()
    edited.refresh_from_db()
    services.item_mask_save(item=edited, mask_png=half_mask((160, 120)))
    Item.objects.filter(pk=improved.pk).update(confidence=0.01)  # needs review: improved with quality=best
    services.batch_improve(batch=batch)
    run_ready_jobs()
    repeat = services.batch_create(owner=user, background=background())
    services.batch_add_files(batch=repeat, files=[upload("a.jpg")])  # the same photo: its result reused
    run_ready_jobs()
    for item in Item.objects.all():
        for of, kind in (("original", "thumbnail"), ("original", "display"), ("result", "thumbnail")):
            services.item_thumbnail(item=item, of=of, kind=kind)
    services.stored_image_create(owner=user, upload=upload("stored.jpg"))
    run_deferred_file_deletions()  # the revisions that the edit and the improvement replaced
    named = all_stored()
    fields_set = {field for item in Item.objects.all() for field in Item.FILE_FIELDS if getattr(item, field)}
    assert fields_set == set(Item.FILE_FIELDS)
    for kind in ("-thumbnail.webp", "-display.webp", "/cutout-reused.png", "/mask-reused.png", "/background.jpg"):
        assert any(name.endswith(kind) for name in named), kind
    assert any("/store/" in name for name in named)
    orphan = default_storage.save(f"{batch_folder(batch)}{uuid.uuid4()}/source.jpg", ContentFile(b"photo"))

    assert sweep_of_every_age() == 1
    run_deferred_file_deletions()

    assert all_stored() == named
    assert not default_storage.exists(orphan)


def test_a_sweep_pages_through_more_files_than_one_listing_holds(user: Any, s3_storage: S3Server) -> None:
    """S3 lists 1,000 names to a request: the orphans listed after them go too, and names that bgsite does not
    write (another program's, under the same folder) stay."""
    foreign = {f"users/{user.pk}/exports/{number:04}.jpg" for number in range(1001)}
    client = s3_storage.client()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=s3_storage.bucket, Key=key, Body=b"x"), foreign))
    before = default_storage.save(f"users/{user.pk}/batches/{uuid.uuid4()}/background.jpg", ContentFile(b"bg"))
    after = default_storage.save(f"users/{user.pk}/store/{uuid.uuid4()}.jpg", ContentFile(b"photo"))
    assert sorted([before, *foreign, after]).index(after) >= 1000  # on a listing's second page

    assert services.orphaned_files_sweep() == 0  # written just now: maybe an upload still committing its rows
    assert sweep_of_every_age() == 2
    run_deferred_file_deletions()

    assert all_stored() == foreign
