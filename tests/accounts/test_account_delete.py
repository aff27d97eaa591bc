"""Deleting an account from the account page: the account ends at once, in the request; every row and every stored
file of the user goes in a job (accounts.deletion), after a restart, a dead worker or a storage outage too."""

import logging
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.db.models.signals import pre_delete
from django.tasks import TaskResultStatus
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts import selectors
from accounts.auth import NotAuthenticated
from accounts.deletion import (
    DELETE_ACCOUNT_TASK,
    DELETE_RETRY_SECONDS,
    account_data_delete,
    account_data_release,
    account_delete,
)
from accounts.models import ApiKey, BrowserSession, WebhookSecret
from accounts.services import api_key_create, webhook_secret_for
from removal import selectors as removal_selectors
from removal import services
from removal.models import Batch, Item, JobLease, StoredImage, WebhookDelivery
from removal.ops.worker import WorkerPool, claim_next_job, retention_pass, run_job, run_ready_jobs
from removal.services import jobs
from tests.conftest import S3Server, free_port, half_mask, photo_bytes

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
ENDED = (
    "Your account was deleted: it can no longer log in, and its username and e-mail address are free. "
    "Its images and files are being removed now."
)


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


def deleted_on_the_page(client: Any, user: Any) -> Any:
    """The account page's deletion, followed to the page it ends on."""
    client.force_login(user)
    return client.post("/accounts/delete/", {"password": PASSWORD}, follow=True)


def deletion_jobs(status: str = TaskResultStatus.READY) -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK, status=status))


def assert_nothing_left(user_id: int, item_ids: list[str], files: list[str], settings: Any) -> None:
    assert not User.objects.filter(pk=user_id).exists()
    for model, owner_field in ((Batch, "owner"), (StoredImage, "owner"), (ApiKey, "user"), (WebhookSecret, "user")):
        assert not model.objects.filter(**{f"{owner_field}_id": user_id}).exists(), model
    assert not Item.objects.filter(pk__in=item_ids).exists()
    assert not DBTaskResult.objects.filter(args_kwargs__args__0__in=item_ids).exists()
    assert not any(default_storage.exists(name) for name in files)
    assert not (Path(settings.MEDIA_ROOT) / "users" / str(user_id)).exists()


def test_the_account_ends_at_once_and_a_job_deletes_every_row_and_file(
    client: Any, user: Any, other_user: Any, settings: Any, caplog: Any
) -> None:
    files = give_data(user)
    stray = default_storage.save(f"users/{user.pk}/batches/interrupted/cutout-abc.png", ContentFile(b"x"))
    others = give_data(other_user)
    assert len(files) >= 5 and all(default_storage.exists(name) for name in files)
    item_ids = [str(pk) for pk in Item.objects.filter(batch__owner=user).values_list("id", flat=True)]

    client.force_login(user)
    assert client.get("/accounts/").content.decode().count('href="/accounts/delete/"') == 1
    with caplog.at_level(logging.INFO):
        response = deleted_on_the_page(client, user)
        assert response.redirect_chain[-1][0].startswith("/")
        assert ENDED in response.content.decode()
        assert not response.context["user"].is_authenticated
        ended = User.objects.get(pk=user.pk)  # the rest is the job's, queued in the same transaction
        assert (ended.is_active, ended.username, ended.email, ended.has_usable_password()) == (
            False,
            f"deleted:{user.pk}",
            "",
            False,
        )
        assert len(deletion_jobs()) == 1 and Batch.objects.filter(owner=user).count() == 2

        run_ready_jobs()

    assert_nothing_left(user.pk, item_ids, [*files, stray], settings)
    assert all(default_storage.exists(name) for name in others)
    assert Batch.objects.filter(owner=other_user).count() == 2
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith(("removal", "accounts"))
    )
    assert "deleted an ended account's batches: 2 batches, " in logged
    assert "deleted an account's data: 0 batches, 0 items, 1 stored images" in logged
    assert "an account was deleted, with its 1 API keys" in logged
    assert "alice" not in logged and "example.com" not in logged


def test_the_reply_does_not_grow_with_what_the_account_holds(
    client: Any, user: Any, django_assert_max_num_queries: Any
) -> None:
    """Every row of the account was deleted in the request (31 s for 300,000 images in the audit): now its queries
    are as many for 3,000 images as for none, and none of them deletes the account's images."""
    batches = Batch.objects.bulk_create([Batch(owner=user) for _ in range(30)])
    for batch in batches:
        Item.objects.bulk_create(
            Item(
                batch=batch,
                filename="p.jpg",
                source=f"users/{user.pk}/x.jpg",
                source_bytes=1,
                width=1,
                height=1,
                queued_at=timezone.now(),
            )
            for _ in range(100)
        )
    client.force_login(user)
    with django_assert_max_num_queries(20) as queries:
        client.post("/accounts/delete/", {"password": PASSWORD})
    assert not any("removal_item" in query["sql"] for query in queries.captured_queries)
    assert Item.objects.filter(batch__owner=user).count() == 3000 and len(deletion_jobs()) == 1


def test_an_ended_account_is_refused_wherever_it_calls_from(user: Any, api_key: str) -> None:
    """Its API keys as a key nobody has (every API), its sessions ended (the page, and every other browser)."""
    pages, other_browser = Client(), Client()
    other_browser.login(username="alice", password=PASSWORD)
    assert other_browser.get("/accounts/").status_code == 200
    assert Client().get("/api/v1/batches", headers={"X-Api-Key": api_key}).status_code == 200

    deleted_on_the_page(pages, user)

    assert not BrowserSession.objects.filter(user=user).exists()
    assert other_browser.get("/accounts/").status_code == 302
    assert not other_browser.login(username="alice", password=PASSWORD)
    caller = Client()
    for reply in (
        caller.get("/api/v1/batches", headers={"X-Api-Key": api_key}),
        caller.get("/bgremove", {"img": "https://example.com/a.jpg", "key": api_key}),
        caller.post("/v1.0/removebg", {"image_url": "https://example.com/a.jpg"}, headers={"X-Api-Key": api_key}),
    ):
        assert reply.status_code in (401, 403) and "invalid API key" in reply.content.decode(), reply.content


def test_its_username_and_address_are_free_at_once(client: Any, user: Any) -> None:
    deleted_on_the_page(client, user)
    assert not selectors.username_taken("Alice") and not selectors.email_taken("ALICE@example.com")

    again = Client().post(
        "/accounts/signup/",
        {"username": "alice", "email": "alice@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert again.status_code == 302 and User.objects.get(username="alice").pk != user.pk


def test_the_deletion_goes_ahead_of_its_waiting_images_and_takes_their_jobs(client: Any, user: Any) -> None:
    batch = services.batch_create(owner=user)
    (item,), _ = services.batch_add_files(batch=batch, files=[SimpleUploadedFile("p.jpg", photo_bytes())])
    deleted_on_the_page(client, user)
    item_job = DBTaskResult.objects.get(task_path="removal.tasks.process_item")

    run_job(claim_next_job("w"), "w")  # the deletion's job first, then the image's

    assert not User.objects.filter(pk=user.pk).exists() and not Item.objects.filter(pk=item.pk).exists()
    assert not DBTaskResult.objects.filter(pk=item_job.pk, status=TaskResultStatus.READY).exists()


def test_an_ended_accounts_image_job_does_nothing_and_is_not_queued_again(user: Any, settings: Any) -> None:
    settings.ITEM_LEASE_SECONDS = 0
    batch = services.batch_create(owner=user)
    (item,), _ = services.batch_add_files(batch=batch, files=[SimpleUploadedFile("p.jpg", photo_bytes())])
    account_delete(user=user)
    DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK).update(run_after=timezone.now() + timedelta(hours=1))

    assert run_ready_jobs() == 1
    item.refresh_from_db()
    assert (item.status, item.attempts, item.result.name) == (Item.Status.QUEUED, 0, "")
    assert services.items_requeue_stale() == 0
    with pytest.raises(NotAuthenticated, match="this account was deleted"):
        removal_selectors.item_finished(item.pk)


def test_an_ended_accounts_webhook_is_not_sent(user: Any) -> None:
    batch = services.batch_create(owner=user, callback_url="https://example.com/hook")
    (item,), _ = services.batch_add_files(batch=batch, files=[SimpleUploadedFile("p.jpg", photo_bytes())])
    services.item_process(item_id=str(item.pk))  # finished: its batch's webhook is queued
    account_delete(user=user)
    DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK).update(run_after=timezone.now() + timedelta(hours=1))

    assert run_ready_jobs() == 2  # the image's job (done already) and the webhook's

    assert WebhookDelivery.objects.get(batch=batch).attempts == 0


@pytest.mark.django_db(transaction=True)
def test_a_deletion_queued_while_no_worker_ran_is_done_by_the_next_worker(client: Any, user: Any) -> None:
    """Deleted while the workers were stopped (or in a web process without any): a worker started later finishes it."""
    files = give_data(user)
    item_ids = [str(pk) for pk in Item.objects.filter(batch__owner=user).values_list("id", flat=True)]
    deleted_on_the_page(client, user)
    assert User.objects.filter(pk=user.pk).exists()

    def account_still_there() -> bool:
        try:
            return User.objects.filter(pk=user.pk).exists()
        except OperationalError:  # the worker's deletion holds the table: the tests' in-memory SQLite (shared cache)
            return True  # refuses a read at once ("database table is locked") where a file database would wait

    pool = WorkerPool(threads=1, name="after-restart")
    pool.start()
    try:
        deadline = time.monotonic() + 60
        while account_still_there() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pool.stop(timeout=30)

    assert_nothing_left(user.pk, item_ids, files, django_settings)
    assert [job.status for job in DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK)] == ["SUCCESSFUL"]


def test_a_deletion_whose_worker_died_is_run_again_once(client: Any, user: Any, caplog: Any) -> None:
    """The worker took the job and died (killed by a deploy, its machine gone): the reaper queues it again once, and
    it finishes; run a second time, it finds nothing left to do."""
    files = give_data(user)
    deleted_on_the_page(client, user)
    died = claim_next_job("worker-that-died")
    assert died is not None and died.task_path == DELETE_ACCOUNT_TASK
    assert services.jobs_requeue_lost() == 0  # within the lease taken with the job
    JobLease.objects.filter(job_id=died.pk).update(lease_until=timezone.now() - timedelta(seconds=1))  # not renewed

    assert services.jobs_requeue_lost() == 1 and services.jobs_requeue_lost() == 0
    run_ready_jobs()

    assert not User.objects.filter(pk=user.pk).exists()
    assert not any(default_storage.exists(name) for name in files)
    statuses = dict(DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK).values_list("id", "status"))
    assert statuses.pop(died.pk) == "FAILED" and list(statuses.values()) == ["SUCCESSFUL"]
    account_data_delete(user_id=user.pk)  # the dead worker's run, had it come back: nothing to delete


@pytest.mark.django_db(transaction=True)
def test_a_deletion_that_runs_past_the_reapers_limit_while_its_worker_lives_is_run_once(
    client: Any, user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account of 300,000 images takes its job minutes: past LOST_AFTER (10 minutes, here 1 s) the reaper took the
    job, still running, for one whose worker died and ran it again beside itself. Its worker renews the job's lease
    while it runs (every third of ITEM_LEASE_SECONDS, here 1 s), and the reaper leaves it to it."""
    settings.ITEM_LEASE_SECONDS = 1
    monkeypatch.setattr(jobs, "LOST_AFTER", timedelta(seconds=1))
    files = give_data(user)
    deleted_on_the_page(client, user)
    step_started, step_may_end = threading.Event(), threading.Event()

    def long_step(sender: Any, **kwargs: Any) -> None:  # its batches' steps, made to last
        step_started.set()
        step_may_end.wait(30)

    account_data_release.connect(long_step, dispatch_uid="test-long-step")
    job = claim_next_job("alive")
    assert job is not None and job.task_path == DELETE_ACCOUNT_TASK
    worker = threading.Thread(target=run_job_and_close, args=(job, "alive"))
    worker.start()
    requeued = 0
    try:
        assert step_started.wait(30)
        deadline = time.monotonic() + 3.5  # three leases, and LOST_AFTER three times over
        while time.monotonic() < deadline:
            requeued += services.jobs_requeue_lost()
            time.sleep(0.25)
    finally:
        step_may_end.set()
        worker.join(60)
        account_data_release.disconnect(dispatch_uid="test-long-step")

    assert requeued == 0
    assert [job.status for job in DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK)] == ["SUCCESSFUL"]
    assert not User.objects.filter(pk=user.pk).exists() and not any(default_storage.exists(name) for name in files)
    assert not JobLease.objects.exists()


def run_job_and_close(job: DBTaskResult, worker_id: str) -> None:
    """A worker thread's run of `job`, its connection closed after."""
    try:
        run_job(job, worker_id)
    finally:
        connection.close()


def test_an_ended_account_whose_deletion_job_failed_outright_is_queued_again_by_the_hourly_pass(
    client: Any, user: Any, other_user: Any, caplog: Any
) -> None:
    """Its job failed without queueing its next try (the database gone just then): without the reaper's hourly pass
    the account stayed ended, its data kept, for good. An account whose job waits, and one merely made inactive in the
    admin, are left alone."""
    files = give_data(user)
    deleted_on_the_page(client, user)
    other_user.is_active = False
    other_user.save()
    assert retention_pass() is False and len(deletion_jobs()) == 1  # its job waits: nothing queued twice
    DBTaskResult.objects.filter(task_path=DELETE_ACCOUNT_TASK).update(status=TaskResultStatus.FAILED)

    with caplog.at_level(logging.WARNING):
        retention_pass()
        retention_pass()
    assert [job.args_kwargs["args"] for job in deletion_jobs()] == [[user.pk, 0]]
    assert "an ended account's deletion had no job: queued again" in caplog.text
    run_ready_jobs()
    assert not User.objects.filter(pk=user.pk).exists() and User.objects.filter(pk=other_user.pk).exists()
    assert not any(default_storage.exists(name) for name in files)


def test_the_jobs_last_transaction_finds_the_batches_gone_already(client: Any, user: Any) -> None:
    """Its batches go in steps of a few, each its own transaction, before the user's rows go in one: deleted in that
    one, an account of 300,000 images held SQLite's write lock some 20 s while uploads and workers waited."""
    files = give_data(user)
    Batch.objects.bulk_create(Batch(owner=user) for _ in range(45))  # three steps of 20
    deleted_on_the_page(client, user)
    left_at_the_last: list[int] = []

    def count_batches(sender: Any, instance: Any, **kwargs: Any) -> None:
        left_at_the_last.append(Batch.objects.filter(owner_id=instance.pk).count())

    pre_delete.connect(count_batches, sender=User, dispatch_uid="count-batches")
    try:
        run_ready_jobs()
    finally:
        pre_delete.disconnect(dispatch_uid="count-batches", sender=User)
    assert left_at_the_last == [0]
    assert not User.objects.filter(pk=user.pk).exists() and not any(default_storage.exists(name) for name in files)


def storage_broken(settings: Any) -> tuple[Path, Path]:
    """Local storage that fails every listing and deletion from now on, as on a dead disk (tests/domain/test_purge.py
    breaks it so): its folder, and where the files were put aside."""
    media = Path(settings.MEDIA_ROOT)
    aside = media.rename(media.with_name("media-aside"))
    media.write_text("not a directory")
    return media, aside


def test_a_deletion_storage_refuses_is_tried_again_later_not_by_the_user(
    client: Any, user: Any, settings: Any, caplog: Any
) -> None:
    files = give_data(user)
    response = deleted_on_the_page(client, user)
    assert ENDED in response.content.decode()  # whatever storage does: the page never asks to try again
    media, aside = storage_broken(settings)

    for attempt in (1, 2):
        assert run_ready_jobs() == (2 if attempt == 1 else 1)  # the queued image's job the first time: it did nothing
        assert (
            User.objects.filter(pk=user.pk, is_active=False).exists() and Batch.objects.filter(owner=user).count() == 2
        )
        (again,) = deletion_jobs()
        assert again.args_kwargs["args"] == [user.pk, attempt]
        wait = DELETE_RETRY_SECONDS * 2 ** (attempt - 1)
        assert wait - 5 <= (again.run_after - timezone.now()).total_seconds() <= wait
        DBTaskResult.objects.filter(pk=again.pk).update(run_after=timezone.now())  # its time has come
    assert "could not delete an ended account's data (try 2); trying again in 600 s" in caplog.text

    media.unlink()
    aside.rename(media)
    assert run_ready_jobs() == 1
    assert not User.objects.filter(pk=user.pk).exists() and not deletion_jobs()
    assert not any(default_storage.exists(name) for name in files)


def test_the_address_is_told_of_the_deletion_in_the_accounts_language(client: Any, user: Any, mailoutbox: Any) -> None:
    """Deleted by someone who had the password (a session left open), the account's owner learns it."""
    client.force_login(user)
    client.post("/accounts/delete/", {"password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="fr")
    (notice,) = mailoutbox
    assert notice.to == ["alice@example.com"] and notice.subject == "Votre compte bgsite sur testserver a été supprimé"
    assert "Bonjour alice," in notice.body and "votre mot de passe" in notice.body
    assert not User.objects.get(pk=user.pk).is_active


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


def s3_storage_at(settings: Any, server: S3Server, endpoint: str) -> None:
    """default_storage made anew on the S3 server's bucket, reached at `endpoint` (tests/domain/test_orphan_sweep.py
    sets it so)."""
    for name, value in server.env.items():
        setattr(settings, name, value)
    settings.AWS_S3_ENDPOINT_URL, settings.AWS_S3_FILE_OVERWRITE, settings.AWS_DEFAULT_ACL = endpoint, False, None
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "removal.storage.LinkingS3Storage"}}


def test_on_s3_a_deletion_while_the_server_is_unreachable_is_tried_again_later(
    client: Any, user: Any, settings: Any, s3_server: S3Server, caplog: Any
) -> None:
    s3_storage_at(settings, s3_server, s3_server.endpoint)
    files = give_data(user)
    assert files and all(default_storage.exists(name) for name in files)
    deleted_on_the_page(client, user)

    s3_storage_at(settings, s3_server, f"http://127.0.0.1:{free_port()}")  # nothing listens there: S3 is down
    assert run_ready_jobs() == 2  # the deletion's, and the queued image's (which did nothing)
    (again,) = deletion_jobs()
    assert again.args_kwargs["args"] == [user.pk, 1] and User.objects.filter(pk=user.pk).exists()
    assert "EndpointConnectionError" in caplog.text

    s3_storage_at(settings, s3_server, s3_server.endpoint)
    DBTaskResult.objects.filter(pk=again.pk).update(run_after=timezone.now())
    assert run_ready_jobs() == 1
    assert not User.objects.filter(pk=user.pk).exists()
    assert not any(default_storage.exists(name) for name in files)


@pytest.mark.live
def deletion_job_statuses(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "db.sqlite3") as db:
        jobs = db.execute(
            "SELECT status FROM django_tasks_database_dbtaskresult WHERE task_path = ?", [DELETE_ACCOUNT_TASK]
        )
        return [status for (status,) in jobs]


def test_a_deletion_left_by_a_killed_server_is_finished_by_the_next_one(server_factory: Any) -> None:
    """Live: the account deleted on a server without workers, which is then killed; restarted with a worker, it
    deletes the account's rows and files. The request ended the account and left its data to the job (that its
    work does not grow with the account's is test_the_reply_does_not_grow_with_what_the_account_holds's)."""
    server = server_factory(EMBEDDED_WORKERS="0")
    server.start()
    key = server.create_user("leaver")
    photo = ("files", ("p.jpg", photo_bytes("coffee.png", size=(160, 120)), "image/jpeg"))
    assert requests.post(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, files=[photo], timeout=60).ok
    user_folder = server.data_dir / "media" / "users"
    assert [path for path in user_folder.rglob("*") if path.is_file()]
    browser = server.signed_in("leaver")
    form = {"password": PASSWORD, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    reply = browser.post(
        f"{server.url}/accounts/delete/", data=form, headers={"Referer": server.url + "/"}, allow_redirects=False
    )
    assert reply.status_code == 302
    assert [path for path in user_folder.rglob("*") if path.is_file()], "the request left the files to the job"
    assert requests.get(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, timeout=10).status_code == 401
    server.stop(kill=True)

    server.env_overrides["EMBEDDED_WORKERS"] = "1"
    server.start()
    deadline = time.monotonic() + 120
    while deletion_job_statuses(server.data_dir) != ["SUCCESSFUL"] and time.monotonic() < deadline:
        time.sleep(0.2)  # its files go in its first steps, its rows at its end
    with sqlite3.connect(server.data_dir / "db.sqlite3") as db:
        users = db.execute("SELECT COUNT(*) FROM auth_user").fetchone()[0]
        items = db.execute("SELECT COUNT(*) FROM removal_item").fetchone()[0]
        jobs = db.execute(
            "SELECT status FROM django_tasks_database_dbtaskresult WHERE task_path = ?", [DELETE_ACCOUNT_TASK]
        )
        assert (users, items, [status for (status,) in jobs]) == (0, 0, ["SUCCESSFUL"])
    assert not [path for path in user_folder.rglob("*") if path.is_file()]
    server.stop()
