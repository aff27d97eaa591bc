"""Deleting a batch at its owner's request (services.batch_delete): rows and waiting jobs now, files a while later."""

import logging
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from removal import events, services
from removal.cutout.options import Options
from removal.errors import NotFound
from removal.models import Batch, Item, WebhookDelivery
from removal.ops.worker import run_ready_jobs
from removal.services import batches, edits, processing, purge
from removal.services.files import item_prefix, stored_files_under
from tests.conftest import S3Server, half_mask, item_files, photo_bytes, run_deferred_file_deletions

pytestmark = pytest.mark.django_db


def upload(name: str = "p.jpg", photo: str = "coffee.png") -> Any:
    return SimpleUploadedFile(name, photo_bytes(photo, size=(160, 120)))


def stored_names(batch: Batch) -> list[str]:
    names = [name for item in batch.items.all() for name in item_files(item)]
    return [*names, str(batch.bg_image)] if batch.bg_image else names


def batch_folder(batch: Batch, settings: Any) -> Path:
    return Path(settings.MEDIA_ROOT) / "users" / str(batch.owner_id) / "batches" / str(batch.pk)


def test_a_finished_batch_goes_with_every_file_it_had(user: Any, settings: Any, caplog: Any) -> None:
    background = SimpleUploadedFile("bg.jpg", photo_bytes("astronaut.png", size=(160, 120)))
    batch = services.batch_create(owner=user, background=background)
    (edited, _), _ = services.batch_add_files(batch=batch, files=[upload("a.jpg"), upload("b.jpg", "astronaut.png")])
    run_ready_jobs()
    edited.refresh_from_db()
    services.item_mask_save(item=edited, mask_png=half_mask((160, 120)))
    stray = default_storage.save(f"users/{user.pk}/batches/{batch.pk}/left-over/cutout-abc.png", ContentFile(b"x"))
    # Read before: a deleted instance's pk is None.
    names, batch_id, folder = stored_names(batch), batch.pk, batch_folder(batch, settings)
    assert len(names) >= 8 and folder.exists() and all(default_storage.exists(name) for name in names)

    with caplog.at_level(logging.INFO):
        counts = services.batch_delete(batch=batch)

    assert (counts.items, counts.jobs) == (2, 0) and 0 < counts.files < len(names)  # the rows' names, not thumbnails
    assert not Batch.objects.filter(pk=batch_id).exists() and not Item.objects.filter(batch_id=batch_id).exists()
    assert f"deleted batch {batch_id} at its owner's request: 2 items" in caplog.text
    assert all(default_storage.exists(name) for name in names)  # a zip already sending them finishes whole
    assert run_deferred_file_deletions() == 1
    assert not any(default_storage.exists(name) for name in [*names, stray])
    assert not folder.exists()


def test_waiting_images_are_not_cut_out_after_all(user: Any, settings: Any) -> None:
    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload("a.jpg"), upload("b.jpg")])
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 2
    folder = batch_folder(batch, settings)
    assert folder.exists()

    assert services.batch_delete(batch=batch).jobs == 2

    assert not DBTaskResult.objects.exclude(task_path=purge.DELETE_FILES_TASK).exists()
    assert run_ready_jobs() == 0
    run_deferred_file_deletions()
    assert not folder.exists()


def test_an_image_being_cut_out_as_its_batch_goes_leaves_nothing_behind(
    user: Any, settings: Any, monkeypatch: Any
) -> None:
    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload()])
    cut_out, folder = processing._cut_out, batch_folder(batch, settings)

    def deleted_meanwhile(item: Item) -> Any:
        cutout = cut_out(item)
        services.batch_delete(batch=batch)  # the owner deletes the batch while the worker holds the image
        return cutout

    monkeypatch.setattr(processing, "_cut_out", deleted_meanwhile)
    run_ready_jobs()
    run_deferred_file_deletions()

    assert not Item.objects.exists()
    assert not [path for path in folder.rglob("*") if path.is_file()]  # what the worker saved went too


def test_an_account_deleted_while_its_image_is_cut_out_lets_the_worker_finish_the_job(
    user: Any, settings: Any, monkeypatch: Any
) -> None:
    """The running job's record stays until its worker is done with it, as a deleted batch's does: deleting it under
    the worker made recording the job's end fail (NotUpdated), an ERROR with its traceback for each such job."""
    from accounts.deletion import DELETE_ACCOUNT_TASK, account_data_delete, account_delete

    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload(), upload("q.jpg")])
    cut_out, folder = processing._cut_out, Path(settings.MEDIA_ROOT) / "users" / str(user.pk)

    def deleted_meanwhile(item: Item) -> Any:
        cutout = cut_out(item)
        if Item.objects.filter(pk=item.pk).exists():
            account_delete(user=user)  # the owner deletes their account while the worker holds the image
            account_data_delete(user_id=user.pk)  # and another worker runs the deletion's job at once
        return cutout

    monkeypatch.setattr(processing, "_cut_out", deleted_meanwhile)
    assert run_ready_jobs() == 2  # the other image's job went with the account; the deletion's found it done

    assert not Item.objects.exists()
    assert not [path for path in folder.rglob("*") if path.is_file()]  # what the worker saved went too
    jobs = DBTaskResult.objects.values_list("task_path", "status")
    assert sorted(jobs) == [(DELETE_ACCOUNT_TASK, "SUCCESSFUL"), ("removal.tasks.process_item", "SUCCESSFUL")]


def test_an_account_is_deleted_while_a_deleted_batchs_files_wait_for_their_job(user: Any, other_user: Any) -> None:
    """A deleted batch's files wait for a job whose first argument is a list of their names (delete_files): reading
    the job table for the account's work, `list in set` raised TypeError, the deletion's job failed, and the account's
    batches and files stayed."""
    from accounts.deletion import account_data_delete, account_delete

    other = services.batch_create(owner=other_user)  # anyone's, while its job record is kept (RETENTION_DAYS)
    services.batch_add_files(batch=other, files=[upload("b.jpg")])
    services.batch_delete(batch=other)
    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload()])
    assert DBTaskResult.objects.filter(task_path="removal.tasks.delete_files").exists()

    account_delete(user=user)
    account_data_delete(user_id=user.pk)

    assert not Batch.objects.filter(owner=user).exists() and not Item.objects.filter(batch__owner=user).exists()


def test_an_accounts_job_records_go_by_queries_that_do_not_grow_with_the_account(
    user: Any, other_user: Any, django_assert_max_num_queries: Any
) -> None:
    """Found by the account deletion's measure: its job records were found by one query naming every image's id,
    past SQLite's 250,000 variables for an account of 300,000 images (OperationalError: too many SQL variables,
    the account never deleted). Now no query of the purge names more than a page of them."""

    def jobs_for(owner: Any, count: int) -> list[str]:
        batch = Batch.objects.create(owner=owner)
        items = Item.objects.bulk_create(
            Item(
                batch=batch,
                filename="p.jpg",
                source="x.jpg",
                source_bytes=1,
                width=1,
                height=1,
                queued_at=timezone.now(),
            )
            for _ in range(count)
        )
        DBTaskResult.objects.bulk_create(
            DBTaskResult(
                task_path="removal.tasks.process_item",
                args_kwargs={"args": [str(item.pk)], "kwargs": {}},
                status=TaskResultStatus.SUCCESSFUL,
                backend_name="default",
                run_after=timezone.now(),
            )
            for item in items
        )
        return [str(item.pk) for item in items]

    owned, others = jobs_for(user, 2500), jobs_for(other_user, 10)
    with django_assert_max_num_queries(30) as queries:
        counts = services.user_data_purge(user=user)

    assert counts.jobs == 2500 and not DBTaskResult.objects.filter(args_kwargs__args__0__in=owned[:500]).exists()
    assert DBTaskResult.objects.count() == len(others)
    assert max(len(query["sql"]) for query in queries.captured_queries) < 60_000  # a page of 1,000 ids, not 2,500


def test_another_batch_that_reused_its_results_keeps_them(user: Any) -> None:
    first = services.batch_create(owner=user)
    services.batch_add_files(batch=first, files=[upload()])
    run_ready_jobs()
    second = services.batch_create(owner=user)
    (reused,), _ = services.batch_add_files(batch=second, files=[upload()])
    assert reused.cached
    rerun, _, _ = services.batch_rerun(batch=first, options=Options.from_json(first.options))
    run_ready_jobs()

    services.batch_delete(batch=first)

    for kept in (second, rerun):
        names = stored_names(kept)
        assert names and all(default_storage.exists(name) for name in names)
        assert kept.items.get().status == Item.Status.DONE


def test_one_image_goes_with_its_files_and_the_rest_of_its_batch_stays(user: Any, settings: Any) -> None:
    batch = services.batch_create(owner=user)
    (kept, removed), _ = services.batch_add_files(
        batch=batch, files=[upload("a.jpg"), upload("b.jpg", "astronaut.png")]
    )
    run_ready_jobs()
    removed.refresh_from_db()
    services.item_mask_save(item=removed, mask_png=half_mask((160, 120)))
    removed.refresh_from_db()
    kept.refresh_from_db()
    names, kept_names = item_files(removed), item_files(kept)
    removed_folder = batch_folder(batch, settings) / str(removed.pk)
    assert removed_folder.exists()

    services.item_delete(item=removed)

    assert list(batch.items.all()) == [kept]
    assert len(names) >= 4 and all(default_storage.exists(name) for name in names), "kept for a download under way"
    assert run_deferred_file_deletions() == 1
    assert not any(default_storage.exists(name) for name in names)
    assert all(default_storage.exists(name) for name in kept_names)
    assert not removed_folder.exists()


def one_image_removed(user: Any) -> tuple[Item, list[str]]:
    """An image of a new batch, cut out, then removed by its owner; and the files it had."""
    batch = services.batch_create(owner=user)
    (item,), _ = services.batch_add_files(batch=batch, files=[upload()])
    run_ready_jobs()
    names = item_files(Item.objects.get(pk=item.pk))
    services.item_delete(item=Item.objects.get(pk=item.pk))
    return item, names


def test_a_removed_images_files_are_kept_for_the_time_set(user: Any, settings: Any) -> None:
    settings.DELETED_FILES_KEPT_SECONDS = 900
    _, names = one_image_removed(user)

    job = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert 899 <= (job.run_after - timezone.now()).total_seconds() <= 900
    assert run_ready_jobs() == 0 and all(default_storage.exists(name) for name in names)


@pytest.mark.django_db(transaction=True)
def test_with_no_time_kept_a_removed_images_files_go_as_its_removal_commits(user: Any, settings: Any) -> None:
    settings.DELETED_FILES_KEPT_SECONDS = 0
    item, names = one_image_removed(user)

    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()
    assert names and not any(default_storage.exists(name) for name in names)
    assert not batch_folder(item.batch, settings).joinpath(str(item.pk)).exists()


def storage_broken(settings: Any) -> tuple[Path, Path]:
    """Local storage that fails every listing and deletion from now on, as on a dead disk: its folder, and where
    the files were put aside."""
    media = Path(settings.MEDIA_ROOT)
    aside = media.rename(media.with_name("media-aside"))
    media.write_text("not a directory")
    return media, aside


def test_a_deletion_that_storage_refuses_is_tried_again_later(user: Any, settings: Any, caplog: Any) -> None:
    item, names = one_image_removed(user)
    media, aside = storage_broken(settings)

    for attempt in range(1, purge.FILES_DELETE_ATTEMPTS):
        assert run_deferred_file_deletions() == 1
        again = DBTaskResult.objects.get(status=TaskResultStatus.READY)
        assert again.args_kwargs["args"][1:] == [f"{item_prefix(item)}/", attempt]
        expected = purge.FILES_DELETE_RETRY_SECONDS * 2 ** (attempt - 1)
        assert expected - 5 <= (again.run_after - timezone.now()).total_seconds() <= expected
        if attempt == 2:
            media.unlink()
            aside.rename(media)
            assert run_deferred_file_deletions() == 1
            break
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert "could not delete the files of removed or replaced files" in caplog.text


def test_a_deletion_storage_keeps_refusing_is_given_up_and_logged(user: Any, settings: Any, caplog: Any) -> None:
    one_image_removed(user)
    storage_broken(settings)

    ran = sum(run_deferred_file_deletions() for _ in range(purge.FILES_DELETE_ATTEMPTS + 1))

    assert ran == purge.FILES_DELETE_ATTEMPTS
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()
    assert f"after {purge.FILES_DELETE_ATTEMPTS} tries; they go with their batch" in caplog.text


def test_removing_the_last_waiting_image_finishes_the_batch(user: Any) -> None:
    batch = services.batch_create(owner=user, callback_url="https://example.com/hook")
    (done, waiting), _ = services.batch_add_files(batch=batch, files=[upload("a.jpg"), upload("b.jpg")])
    services.item_process(item_id=str(done.pk))
    assert not WebhookDelivery.objects.exists()

    services.item_delete(item=Item.objects.get(pk=waiting.pk))

    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY, args_kwargs__args__0=str(waiting.pk)).count() == 0
    delivery = WebhookDelivery.objects.get(batch=batch)
    assert delivery.items_total == 1


@pytest.mark.django_db(transaction=True)
def test_a_caller_waiting_on_an_image_deleted_meanwhile_is_told_so(user: Any) -> None:
    item = services.image_submit(owner=user, upload=upload())
    services.item_delete(item=item)

    with pytest.raises(NotFound, match="the image was deleted before its cutout was made"):
        async_to_sync(events.wait_finished)(item.id, item.batch_id, timeout_seconds=2)


@pytest.mark.django_db(transaction=True)
def test_files_added_as_their_batch_is_deleted_are_refused_and_not_kept(
    user: Any, settings: Any, monkeypatch: Any
) -> None:
    batch = services.batch_create(owner=user)
    inspect_upload = batches.pipeline.inspect_upload

    def deleted_meanwhile(*args: Any, **kwargs: Any) -> Any:
        services.batch_delete(batch=Batch.objects.get(pk=batch.pk))  # another request, committed
        return inspect_upload(*args, **kwargs)

    monkeypatch.setattr(batches.pipeline, "inspect_upload", deleted_meanwhile)
    with pytest.raises(services.BatchDeleted):
        services.batch_add_files(batch=batch, files=[upload()])
    run_deferred_file_deletions()

    assert not Item.objects.exists() and not DBTaskResult.objects.filter(status="READY").exists()
    assert not [path for path in batch_folder(batch, settings).rglob("*") if path.is_file()]  # the upload went too


def test_an_edit_or_a_look_at_an_image_deleted_meanwhile_is_refused_and_keeps_nothing(
    user: Any, settings: Any, monkeypatch: Any
) -> None:
    batch = services.batch_create(owner=user)
    (item,), _ = services.batch_add_files(batch=batch, files=[upload()])
    run_ready_jobs()
    item.refresh_from_db()
    stale = Item.objects.get(pk=item.pk)  # what a request looked up just before the deletion
    item_folder = batch_folder(batch, settings) / str(item.pk)
    services.item_delete(item=item)

    with pytest.raises(services.ItemDeleted):
        services.item_mask_save(item=stale, mask_png=half_mask((160, 120)))
    with pytest.raises(services.ItemDeleted):
        services.item_review(item=stale)

    # Deleted after the edit stored its new cutout, before recording it.
    (again,), _ = services.batch_add_files(batch=batch, files=[upload("c.jpg")])
    run_ready_jobs()
    again.refresh_from_db()
    locked_current = edits.locked_current

    def deleted_meanwhile(item: Item) -> Item:
        services.item_delete(item=Item.objects.get(pk=item.pk))
        return locked_current(item)

    again_folder = batch_folder(batch, settings) / str(again.pk)
    before_the_edit = {path for path in again_folder.rglob("*") if path.is_file()}
    monkeypatch.setattr(edits, "locked_current", deleted_meanwhile)
    with pytest.raises(services.ItemDeleted):
        services.item_mask_save(item=again, mask_png=half_mask((160, 120)))
    # The deletion is rolled back with the edit's transaction here, as it would not be in another request:
    # what counts is that nothing the edit saved is kept, and that the first image's files went.
    assert {path for path in again_folder.rglob("*") if path.is_file()} <= before_the_edit
    assert run_deferred_file_deletions() == 1
    assert not [path for path in item_folder.rglob("*") if path.is_file()]


def test_the_retention_purge_leaves_nothing_of_an_old_batch_in_storage(user: Any, settings: Any) -> None:
    """Files no row names any more (a hand edit's earlier revision, what an interrupted job saved) go too."""
    from datetime import timedelta

    from django.utils import timezone

    batch = services.batch_create(owner=user)
    (edited,), _ = services.batch_add_files(batch=batch, files=[upload("a.jpg")])
    run_ready_jobs()
    edited.refresh_from_db()
    services.item_mask_save(item=edited, mask_png=half_mask((160, 120)))
    edited.refresh_from_db()
    services.item_mask_save(item=edited, mask_png=half_mask((160, 120)))
    default_storage.save(f"users/{user.pk}/batches/{batch.pk}/left-over/cutout-abc.png", ContentFile(b"x"))
    Batch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(days=40))
    folder = batch_folder(batch, settings)

    services.expired_purge(older_than=timezone.now() - timedelta(days=30))

    assert not Batch.objects.filter(pk=batch.pk).exists()
    assert not [path for path in folder.rglob("*") if path.is_file()]


def test_an_accounts_files_on_s3_go_many_to_a_request(user: Any, settings: Any, s3_server: S3Server) -> None:
    """One DeleteObject request a file made an account of 300,000 images (some 600,000 files) take hours to delete,
    inside its deletion's request and transaction; now one DeleteObjects request for up to 1,000 of them."""
    for name, value in s3_server.env.items():
        setattr(settings, name, value)
    settings.AWS_S3_FILE_OVERWRITE, settings.AWS_DEFAULT_ACL = False, None  # as bgsite/settings.py sets them
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "removal.storage.LinkingS3Storage"}}
    batch = services.batch_create(owner=user)
    services.batch_add_files(batch=batch, files=[upload("a.jpg"), upload("b.jpg")])
    run_ready_jobs()
    folder = f"users/{user.pk}/"
    assert len(list(stored_files_under(folder))) >= 4
    requests: list[str] = []
    events = default_storage.connection.meta.client.meta.events
    events.register("before-call.s3", lambda model, **kwargs: requests.append(model.name), unique_id="counted")
    try:
        user.delete()
    finally:
        events.unregister("before-call.s3", unique_id="counted")

    assert "DeleteObjects" in requests and "DeleteObject" not in requests
    assert not list(stored_files_under(folder))


def test_finished_job_records_are_purged_a_chunk_at_a_time_and_no_others() -> None:
    """A chunk at a time, each its own transaction (a year's records at once held SQLite's write lock), until none of
    those finished before the time given is left; a job waiting or running stays, however old."""
    from datetime import timedelta

    from removal import tasks

    jobs = [tasks.delete_files.enqueue(names=[], folder=f"users/{index}/").id for index in range(6)]
    long_ago = timezone.now() - timedelta(days=40)
    DBTaskResult.objects.filter(pk__in=jobs[:5]).update(
        status=TaskResultStatus.FAILED, started_at=long_ago, finished_at=long_ago
    )
    DBTaskResult.objects.filter(pk=jobs[5]).update(enqueued_at=long_ago)

    assert purge.finished_jobs_purge(older_than=timezone.now() - timedelta(days=30), chunk=2) == 5
    assert [str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)] == [jobs[5]]
