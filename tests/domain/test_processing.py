"""removal.services.processing: claiming, exactly-once outcomes, retries and recovery of lost work."""

import io
import logging
import time
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from asgi_correlation_id import correlation_id
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from bgsite.log_context import LogContext
from removal import events, selectors, serializers, services
from removal.models import DailyUsage, Item
from removal.ops.worker import claim_next_job, run_ready_jobs
from removal.services import processing, queueing
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db

Status = Item.Status


def queue_items(user: Any, count: int = 1) -> list[Item]:
    batch = services.batch_create(owner=user)
    uploads = [
        SimpleUploadedFile(f"p{index}.jpg", photo_bytes("coffee.png", size=(160, 120))) for index in range(count)
    ]
    items, rejected = services.batch_add_files(batch=batch, files=uploads)
    assert not rejected
    return items


def test_processing_records_the_outcome(user: Any) -> None:
    (item,) = queue_items(user)
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    assert item.status == Status.DONE
    assert item.attempts == 1
    assert item.claim_token and item.lease_until is None
    assert default_storage.exists(item.result.name)
    assert item.result_bytes == default_storage.size(item.result.name)
    assert item.started_at <= item.finished_at


def test_the_events_of_an_item_show_it_as_recorded(user: Any, django_capture_on_commit_callbacks: Any) -> None:
    """The done event is built from what the worker wrote, not read back: it must equal a fresh read."""
    (item,) = queue_items(user)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.batch_group(item.batch_id), channel)
    with django_capture_on_commit_callbacks(execute=True):  # sent once recorded: when its transaction commits
        services.item_process(item_id=str(item.id))
    processing, done = (async_to_sync(layer.receive)(channel) for _ in range(2))
    item.refresh_from_db()
    assert processing["item"]["status"] == Status.PROCESSING
    assert done["item"] == serializers.serialize_item(item)
    assert done["item"]["status"] == Status.DONE and done["item"]["confidence"] is not None
    assert done["batch"]["counts"]["done"] == 1


def test_an_upload_announces_each_photo_with_its_batchs_counts_read_once(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A request of many photos: an event per photo, all with the batch's totals from one counts query."""
    batch = services.batch_create(owner=user)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.batch_group(batch.id), channel)
    uploads = [
        SimpleUploadedFile(f"p{index}.jpg", photo_bytes("coffee.png", size=(160 + index, 120))) for index in range(5)
    ]
    with django_capture_on_commit_callbacks(execute=False) as announcements:
        items, _ = services.batch_add_files(batch=batch, files=uploads)
    with CaptureQueriesContext(connection) as queries:
        for announce in announcements:
            announce()
    sent = [async_to_sync(layer.receive)(channel) for _ in items]
    assert [event["item"]["id"] for event in sent] == [str(item.id) for item in items]
    assert all(event["batch"]["counts"]["queued"] == 5 for event in sent)
    assert sum('AS "flagged"' in query["sql"] for query in queries.captured_queries) == 1  # selectors.batch_counts


def test_a_finished_item_is_never_processed_again(user: Any) -> None:
    (item,) = queue_items(user)
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    first_result, first_finished = item.result.name, item.finished_at
    services.item_process(item_id=str(item.id))  # a duplicate delivery of the job
    item.refresh_from_db()
    assert (item.result.name, item.finished_at, item.attempts) == (first_result, first_finished, 1)
    results = default_storage.listdir(item.result.name.rsplit("/", 1)[0])[1]
    cutouts = [name for name in results if name.startswith("cutout") and not name.endswith("-thumbnail.webp")]
    assert cutouts == [first_result.rsplit("/", 1)[1]]


def test_an_item_under_a_live_claim_is_left_alone(user: Any) -> None:
    (item,) = queue_items(user)
    lease = timezone.now() + timedelta(seconds=60)
    Item.objects.filter(pk=item.pk).update(status=Status.PROCESSING, claim_token="other", lease_until=lease)
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    assert (item.status, item.claim_token, item.attempts) == (Status.PROCESSING, "other", 0)


def test_a_claim_takes_its_own_item_alone_under_a_live_lease(user: Any, settings: Any) -> None:
    """The conditional update claims the one item asked for (not every claimable one), with a lease that runs
    ITEM_LEASE_SECONDS from now: until then, no other worker may claim it."""
    first, second = queue_items(user, 2)
    before = timezone.now()
    claimed = processing._item_claimed(str(second.id))
    assert claimed is not None and claimed[0].pk == second.pk
    first.refresh_from_db()
    assert (first.status, first.claim_token, first.attempts) == (Status.QUEUED, "", 0)
    second.refresh_from_db()
    assert (second.status, second.claim_token) == (Status.PROCESSING, claimed[1])
    assert second.lease_until >= before + timedelta(seconds=settings.ITEM_LEASE_SECONDS)
    assert processing._item_claimed(str(second.id)) is None  # a second delivery of its job
    second.refresh_from_db()
    assert (second.claim_token, second.attempts) == (claimed[1], 1)


def test_only_the_current_claim_may_record_an_outcome(user: Any, django_capture_on_commit_callbacks: Any) -> None:
    """A worker that lost its claim (lease expired, item re-claimed) cannot overwrite the new outcome."""
    (item,) = queue_items(user)
    Item.objects.filter(pk=item.pk).update(status=Status.PROCESSING, claim_token="newer")
    item.refresh_from_db()
    with django_capture_on_commit_callbacks() as announced:
        assert not processing._item_finish(item, "stale", status=Status.FAILED, error="late")
    assert not announced  # nor does it announce an outcome that was not recorded
    item.refresh_from_db()
    assert (item.status, item.error) == (Status.PROCESSING, "")


def test_a_processing_item_whose_worker_died_is_claimed_again(user: Any) -> None:
    (item,) = queue_items(user)
    expired = timezone.now() - timedelta(seconds=1)
    Item.objects.filter(pk=item.pk).update(
        status=Status.PROCESSING, claim_token="dead", lease_until=expired, attempts=1
    )
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    assert (item.status, item.attempts) == (Status.DONE, 2)


def test_storage_failure_is_retried_with_backoff_then_fails_clearly(user: Any, settings: Any) -> None:
    settings.ITEM_MAX_ATTEMPTS = 2
    (item,) = queue_items(user)
    default_storage.delete(item.source.name)  # the upload vanished from storage

    before = timezone.now()
    assert run_ready_jobs() == 1
    item.refresh_from_db()
    assert (item.status, item.attempts) == (Status.QUEUED, 1)
    retry = DBTaskResult.objects.get(pk=item.task_id)
    assert retry.status == "READY"
    assert retry.run_after >= before + timedelta(seconds=2)  # backoff: 2 ** attempts seconds
    assert claim_next_job("test") is None  # not due yet

    DBTaskResult.objects.filter(pk=item.task_id).update(run_after=timezone.now())
    assert run_ready_jobs() == 1
    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert item.error.startswith("processing failed:")
    assert "gave up at attempt 2" in item.error


def test_reaper_requeues_expired_leases_and_marks_the_dead_job(user: Any) -> None:
    (item,) = queue_items(user)
    job = claim_next_job("doomed-worker")  # a worker took the job...
    assert job is not None and str(job.id) == str(item.task_id)
    expired = timezone.now() - timedelta(seconds=1)
    Item.objects.filter(pk=item.pk).update(  # ...claimed the item, then died
        status=Status.PROCESSING, claim_token="dead", lease_until=expired, attempts=1
    )
    assert services.items_requeue_stale() == 1
    item.refresh_from_db()
    assert item.status == Status.QUEUED and item.task_id != job.id
    job.refresh_from_db()
    assert job.status == "FAILED"
    assert import_string(job.exception_class_path) is services.WorkerLost  # a real class, not just a name
    assert services.items_requeue_stale() == 0  # nothing else is stale

    assert run_ready_jobs() == 1
    item.refresh_from_db()
    assert (item.status, item.attempts) == (Status.DONE, 2)


def test_reaper_requeues_items_whose_job_was_taken_but_never_started(user: Any, settings: Any) -> None:
    settings.ITEM_LEASE_SECONDS = 1
    (item,) = queue_items(user)
    assert claim_next_job("doomed-worker") is not None  # taken, then the worker died before claiming the item
    assert services.items_requeue_stale() == 0  # too recent to tell
    Item.objects.filter(pk=item.pk).update(queued_at=timezone.now() - timedelta(seconds=5))
    assert services.items_requeue_stale() == 1
    assert run_ready_jobs() == 1
    item.refresh_from_db()
    assert item.status == Status.DONE


@pytest.mark.django_db(transaction=True)
def test_a_failed_lease_renewal_is_logged_and_retried(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    """While this test holds the item table in a transaction, SQLite refuses the renewer's writes ("database
    table is locked"); renewing must go on once the table is free, or the reaper would take a live item."""
    from django.contrib.auth.models import User

    settings.ITEM_LEASE_SECONDS = 1  # a renewal every 1/3 s
    (item,) = queue_items(User.objects.create_user("renewer"))
    Item.objects.filter(pk=item.pk).update(status=Status.PROCESSING, claim_token="mine", lease_until=None)
    with queueing.lease_renewed(item.pk, "mine"):
        with transaction.atomic():
            Item.objects.filter(pk=item.pk).update(attempts=1)  # holds the table until the block ends
            wait_until(lambda: "could not renew the lease" in caplog.text)
        wait_until(lambda: Item.objects.get(pk=item.pk).lease_until is not None)


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_before_it_runs_out_and_only_for_its_own_claim(settings: Any) -> None:
    from django.contrib.auth.models import User

    settings.ITEM_LEASE_SECONDS = 3  # a renewal every second
    mine, theirs = queue_items(User.objects.create_user("renewer"), 2)
    Item.objects.filter(pk=mine.pk).update(status=Status.PROCESSING, claim_token="mine", lease_until=None)
    Item.objects.filter(pk=theirs.pk).update(status=Status.PROCESSING, claim_token="theirs", lease_until=None)
    with queueing.lease_renewed(mine.pk, "mine"):
        wait_until(lambda: Item.objects.get(pk=mine.pk).lease_until is not None, timeout=3)  # before it ran out
        renewed = Item.objects.get(pk=mine.pk).lease_until
    assert renewed > timezone.now() + timedelta(seconds=1)
    assert Item.objects.get(pk=theirs.pk).lease_until is None
    # A worker whose claim another took over (its lease had run out) renews nothing.
    Item.objects.filter(pk=mine.pk).update(claim_token="newer", lease_until=None)
    with queueing.lease_renewed(mine.pk, "mine"):
        time.sleep(1.5)
    assert Item.objects.get(pk=mine.pk).lease_until is None


def wait_until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_reaper_leaves_waiting_and_live_items_alone(user: Any, settings: Any) -> None:
    settings.ITEM_LEASE_SECONDS = 1
    waiting, live = queue_items(user, 2)
    long_ago = timezone.now() - timedelta(seconds=30)
    Item.objects.filter(pk=waiting.pk).update(queued_at=long_ago)  # its job is still READY
    Item.objects.filter(pk=live.pk).update(
        status=Status.PROCESSING, claim_token="alive", lease_until=timezone.now() + timedelta(seconds=30)
    )
    assert services.items_requeue_stale() == 0


def test_too_many_lost_attempts_give_up(user: Any, settings: Any) -> None:
    settings.ITEM_MAX_ATTEMPTS = 3
    (item,) = queue_items(user)
    Item.objects.filter(pk=item.pk).update(attempts=3)
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert "stopped unexpectedly on every attempt (3 in all)" in item.error
    with translation.override("fr"):
        assert item.error_text() == (
            "le traitement s\u2019est arrêté de manière inattendue à chaque tentative (3 au total)\u00a0; "
            "cette image est abandonnée"
        )


def test_an_improvement_whose_workers_kept_dying_keeps_its_cutout_and_gives_its_image_back(
    user: Any, settings: Any
) -> None:
    """The claim that finds an improvement past ITEM_MAX_ATTEMPTS ends it as a failed run of it does: the item is
    done with the cutout it had (not failed, which would drop it from the zip), and the image is given back."""
    settings.ITEM_MAX_ATTEMPTS = 3
    (item,) = queue_items(user)
    run_ready_jobs()
    Item.objects.filter(pk=item.pk).update(confidence=0.1)  # flagged
    item.refresh_from_db()
    made = item.result.name
    services.batch_improve(batch=item.batch)
    assert images_counted_today(user) == 2
    Item.objects.filter(pk=item.pk).update(attempts=F("attempts") + 3)  # three claims of it lost their workers

    services.item_process(item_id=str(item.id))

    item.refresh_from_db()
    assert (item.status, item.result.name) == (Status.DONE, made)
    assert item.error.startswith(
        "improving this cutout failed (processing stopped unexpectedly on every attempt (3 in all)"
    )
    assert images_counted_today(user) == 1


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("../../a.jpg", "a.jpg"),
        ("C:\\x\\b.png", "b.png"),
        ("", "image"),
        ("nul\x00.jpg", "nul.jpg"),
        ("é" * 300, "é" * 255),
        ("é" * 300 + ".jpeg", "é" * 250 + ".jpeg"),  # cut, its extension kept
        ("Grüße %22quote%22 写真.jpg", 'Grüße "quote" 写真.jpg'),  # as browsers write a quote in a multipart header
    ],
)
def test_display_filename(uploaded: str, shown: str) -> None:
    assert services.display_filename(uploaded) == shown


def test_expired_purge_deletes_old_work_and_its_files(user: Any, settings: Any) -> None:
    from django.core.management import call_command

    from removal.models import Batch

    old, _ = queue_items(user, 2)  # one batch of two
    run_ready_jobs()
    old.refresh_from_db()
    Batch.objects.filter(pk=old.batch_id).update(created_at=timezone.now() - timedelta(days=40))
    DailyUsage.objects.create(owner=user, day=(timezone.now() - timedelta(days=40)).date(), images=2)
    fresh = queue_items(user)[0]
    old_files = [old.source.name, old.result.name, old.mask.name]

    counts = services.expired_purge(older_than=timezone.now() - timedelta(days=30))
    # both items shared the old batch: 2 sources + 2 cutouts, the 4 thumbnails of these + 2 masks
    assert counts.batches == 1 and counts.files == 10
    assert not any(default_storage.exists(name) for name in old_files)
    assert list(Item.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert default_storage.exists(fresh.source.name)
    assert list(DailyUsage.objects.values_list("day", flat=True)) == [timezone.now().date()]

    out = io.StringIO()
    call_command("purge_expired", "--days", "1", stdout=out)
    assert "purged 0 batches" in out.getvalue()


def test_purge_expired_with_retention_off_keeps_the_work_and_purges_old_job_records(user: Any, settings: Any) -> None:
    """RETENTION_DAYS=0: as the workers' hourly pass, the users' work stays and the records of jobs finished over
    30 days ago go (the command refused to run, leaving them to the workers alone)."""
    from django.core.management import call_command

    item = queue_items(user)[0]
    run_ready_jobs()
    (old,) = DBTaskResult.objects.all()
    DBTaskResult.objects.update(finished_at=timezone.now() - timedelta(days=40))
    Item.objects.filter(pk=item.pk).update(created_at=timezone.now() - timedelta(days=400))
    upload = SimpleUploadedFile("q.jpg", photo_bytes("chelsea.png", size=(160, 120)))
    (recent,), _ = services.batch_add_files(batch=services.batch_create(owner=user), files=[upload])
    run_ready_jobs()
    settings.RETENTION_DAYS = 0
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "the users' work is kept; purged 1 job records finished over 30 days ago" in out.getvalue()
    assert set(Item.objects.values_list("pk", flat=True)) == {item.pk, recent.pk}
    assert not DBTaskResult.objects.filter(pk=old.pk).exists() and DBTaskResult.objects.count() == 1  # recent's


def test_purge_expired_with_days_below_one_says_so_not_that_retention_is_off(settings: Any) -> None:
    """`--days 0` was refused with "retention is off (RETENTION_DAYS=0)" while RETENTION_DAYS was 30."""
    from django.core.management import call_command

    settings.RETENTION_DAYS = 30
    with pytest.raises(Exception, match="--days must be at least 1") as refused:
        call_command("purge_expired", "--days", "0")
    assert "RETENTION_DAYS" not in str(refused.value)


def test_same_bytes_and_options_are_processed_once_per_account(user: Any, other_user: Any) -> None:
    from removal.cutout.options import Options

    def submit(owner: Any, options: Options | None = None) -> Item:
        batch = services.batch_create(owner=owner, options=options)
        upload = SimpleUploadedFile("same.jpg", photo_bytes("coffee.png", size=(160, 120)))
        return services.batch_add_files(batch=batch, files=[upload])[0][0]

    first = submit(user)
    assert run_ready_jobs() == 1
    first.refresh_from_db()

    again = submit(user)
    assert again.status == Status.DONE and again.cached and again.task_id is None
    assert run_ready_jobs() == 0  # no job was queued for it
    with first.result.open("rb") as original, again.result.open("rb") as reused:
        assert original.read() == reused.read()
    assert again.result.name != first.result.name  # a copy: deleting one batch cannot break the other

    assert not submit(user, Options(format="webp")).cached  # other options: processed
    assert not submit(other_user).cached  # another account: processed
    assert run_ready_jobs() == 2


def claimed_in_order() -> list[Item]:
    """The queued items in the order workers take their jobs (claiming, not running them)."""
    order = []
    while (job := claim_next_job("test")) is not None:
        order.append(Item.objects.select_related("batch").get(pk=job.args_kwargs["args"][0]))
    return order


def test_a_few_photos_wait_behind_a_step_of_another_users_backlog_not_all_of_it(user: Any, other_user: Any) -> None:
    backlog = queue_items(user, count=35)
    few = queue_items(other_user, count=2)
    # The same user's /bgremove call goes ahead of every batch, theirs included.
    waiting_caller = services.image_submit(owner=user, upload=SimpleUploadedFile("w.jpg", photo_bytes()))

    order = [item.id for item in claimed_in_order()]

    step = queueing.FAIR_SHARE_STEP
    assert order == [item.id for item in [waiting_caller, *backlog[:step], *few, *backlog[step:]]]


def test_the_reaper_requeues_a_backlog_behind_what_others_have_waiting(user: Any, other_user: Any) -> None:
    backlog = queue_items(user, count=25)
    DBTaskResult.objects.all().delete()  # every job taken by a worker that died before claiming its item
    Item.objects.update(queued_at=timezone.now() - timedelta(hours=1))
    assert services.items_requeue_stale() == 25
    few = queue_items(other_user, count=1)

    order = [item.id for item in claimed_in_order()]

    assert order == [few[0].id, *(item.id for item in backlog)]


def images_counted_today(user: Any) -> int:
    return DailyUsage.objects.get(owner=user, day=timezone.now().date()).images


def test_an_improvement_that_fails_for_good_keeps_the_cutout_it_had(user: Any, settings: Any) -> None:
    """Nothing made is lost: while it is made again, the zip holds the cutout it had; when every run of the
    improvement fails, the item is done again with that cutout, still flagged, says why, has the image the
    improvement counted given back, and may be improved again."""
    settings.ITEM_MAX_ATTEMPTS = 1
    (item,) = queue_items(user)
    run_ready_jobs()
    Item.objects.filter(pk=item.pk).update(confidence=0.1)  # flagged
    item.refresh_from_db()
    made = (item.result.name, item.result_bytes, item.result_sha256)
    services.batch_improve(batch=item.batch)
    assert images_counted_today(user) == 2  # the upload and its improvement

    manifest = services.batch_manifest(batch=item.batch)
    (entry,) = manifest["items"]
    assert (entry["status"], entry["output_name"], entry["bytes"], entry["sha256"]) == ("queued", "p0.png", *made[1:])
    with zipfile.ZipFile(io.BytesIO(b"".join(services.batch_zip(batch=item.batch)))) as archive:
        assert archive.read("p0.png") == default_storage.open(made[0]).read()

    default_storage.delete(item.source.name)  # every run of the improvement fails
    assert run_ready_jobs() == 1
    item.refresh_from_db()
    assert (item.status, item.result.name, item.result_bytes, item.result_sha256) == (Status.DONE, *made)
    assert item.quality == "" and item.needs_review
    assert item.error.startswith("improving this cutout failed (processing failed: No such file or directory (gave up")
    assert "/" not in item.error  # no path of this server
    assert item.error.endswith("it keeps the one it had, and nothing was counted for it")
    assert serializers.serialize_item(item)["error"] == item.error
    assert images_counted_today(user) == 1
    assert [improvable.pk for improvable in selectors.items_to_improve(item.batch, "best")] == [item.pk]

    services.batch_improve(batch=item.batch)  # improved again: the earlier failure is no longer its news
    item.refresh_from_db()
    assert (item.status, item.error, item.error_template) == (Status.QUEUED, "", "")


def test_a_failed_improvement_is_recorded_with_its_refund_or_not_at_all(
    user: Any, settings: Any, monkeypatch: Any
) -> None:
    """The item's record and the image given back are one transaction: a refund that cannot be written leaves the
    item as its worker held it (the reaper runs it again), never done with its image still counted."""
    settings.ITEM_MAX_ATTEMPTS = 1
    (item,) = queue_items(user)
    run_ready_jobs()
    Item.objects.filter(pk=item.pk).update(confidence=0.1)  # flagged
    services.batch_improve(batch=item.batch)
    default_storage.delete(item.source.name)  # every run of the improvement fails

    def refund_fails(item: Item) -> None:
        raise DatabaseError("the usage row is locked")

    monkeypatch.setattr(processing, "usage_given_back", refund_fails)
    run_ready_jobs()  # its job fails, and is logged

    item.refresh_from_db()
    assert (item.status, item.error) == (Status.PROCESSING, "")
    assert images_counted_today(user) == 2


def test_an_improvements_failure_reads_in_the_pages_language_reason_included(user: Any, settings: Any) -> None:
    """The reason inside "improving this cutout failed (…)" is a message of its own, in the same language: no English
    sentence inside a translated one. Only the operating system's words (strerror) stay as they are."""
    settings.ITEM_MAX_ATTEMPTS = 1
    (item,) = queue_items(user)
    run_ready_jobs()
    Item.objects.filter(pk=item.pk).update(confidence=0.1)
    services.batch_improve(batch=item.batch)
    default_storage.delete(item.source.name)
    run_ready_jobs()
    item.refresh_from_db()

    with translation.override("fr"):
        assert item.error_text() == (
            "l\u2019amélioration de ce détourage a échoué (le traitement a échoué\u00a0: No such file or directory "
            "(abandonné à la tentative 1))\u00a0; il garde celui qu\u2019il avait, "
            "et rien n\u2019a été décompté pour cela"
        )
    with translation.override("es"):
        assert item.error_text().startswith("no se pudo mejorar este recorte (el procesamiento falló: No such file")
    assert (
        item.error
        == item.error_text()
        == (
            "improving this cutout failed (processing failed: No such file or directory (gave up at attempt 1)); "
            "it keeps the one it had, and nothing was counted for it"
        )
    )


def test_a_photo_that_failed_for_good_says_so_in_the_pages_language(user: Any, settings: Any) -> None:
    settings.ITEM_MAX_ATTEMPTS = 1
    (item,) = queue_items(user)
    default_storage.delete(item.source.name)
    run_ready_jobs()
    item.refresh_from_db()

    assert item.status == Status.FAILED
    with translation.override("es"):
        assert item.error_text() == "el procesamiento falló: No such file or directory (abandonado en el intento 1)"
    assert item.error == "processing failed: No such file or directory (gave up at attempt 1)"


def test_an_unreachable_bucket_fails_an_item_without_naming_its_address(user: Any, settings: Any) -> None:
    """The item's error (shown on the page, and in a /bgremove caller's reply) said botocore's text: the S3
    endpoint's address, the bucket and the file's key. It says storage's kind of failure; the log has the rest. The
    item is queued, then storage becomes an S3 bucket whose endpoint no process listens on (as a bucket's server gone
    down after the upload), where an S3 server was started for the upload and killed: its start was most of the
    test's time, and the item's read fails as it did, refused at the endpoint's port."""
    from tests.conftest import free_port

    (item,) = queue_items(user)
    settings.AWS_STORAGE_BUCKET_NAME, settings.AWS_S3_REGION_NAME = "unreachable", "us-east-1"
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = "testing"
    settings.AWS_S3_FILE_OVERWRITE, settings.AWS_DEFAULT_ACL = False, None
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "removal.storage.LinkingS3Storage"}}
    settings.ITEM_MAX_ATTEMPTS = 1
    services.item_process(item_id=str(item.id))
    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert item.error.startswith("processing failed: storage is unavailable (EndpointConnectionError)"), item.error
    assert "127.0.0.1" not in item.error and "unreachable" not in item.error and "source" not in item.error


def test_an_image_that_fails_for_the_servers_reasons_is_given_back(user: Any, settings: Any) -> None:
    """An image that storage (or dying workers) kept from being made is not counted: its caller sends it again (a
    /bgremove caller at once, on its 500), and was counted twice for one cutout. An image that could not be read
    stays counted, as remove.bg counts it."""
    settings.ITEM_MAX_ATTEMPTS = 1
    lost, unreadable = queue_items(user, count=2)
    assert images_counted_today(user) == 2
    default_storage.delete(lost.source.name)  # storage lost it: the server's failure
    with default_storage.open(unreadable.source.name, "rb") as source:
        truncated = source.read()[:2000]
    default_storage.delete(unreadable.source.name)
    default_storage.save(unreadable.source.name, io.BytesIO(truncated))  # the caller's: the JPEG is cut short

    for item in (lost, unreadable):
        services.item_process(item_id=str(item.id))
        item.refresh_from_db()
        assert item.status == Status.FAILED
    assert (lost.input_rejected, unreadable.input_rejected) == (False, True)
    assert images_counted_today(user) == 1


def processing_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "removal.services.processing"]


def queued_by_request(user: Any, request_id: str) -> Any:
    """One item queued as a request whose id is `request_id` queues it."""
    token = correlation_id.set(request_id)
    try:
        (item,) = queue_items(user)
    finally:
        correlation_id.reset(token)
    return item


def test_a_failing_item_logs_a_warning_per_retry_then_one_error_with_its_traceback(
    user: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Each line names the item, its batch and the request that queued it (bgsite.log_context): the one an operator
    is asked about."""
    settings.ITEM_MAX_ATTEMPTS = 2
    caplog.handler.addFilter(LogContext())
    item = queued_by_request(user, "queued-by-1")
    default_storage.delete(item.source.name)  # the upload vanished from storage

    with caplog.at_level(logging.INFO):
        run_ready_jobs()
        DBTaskResult.objects.filter(pk=Item.objects.get(pk=item.pk).task_id).update(run_after=timezone.now())
        run_ready_jobs()
    retried, failed = processing_lines(caplog)
    assert (retried.levelname, retried.exc_info) == ("WARNING", None)
    assert retried.getMessage() == "attempt 1 of 2 failed, trying again in 2 s: No such file or directory"
    assert failed.levelname == "ERROR" and failed.exc_info is not None
    assert failed.getMessage().startswith("the item failed: processing failed: No such file or directory")
    for line in (retried, failed):
        ids = (line.request_id, line.batch_id, line.item_id)  # type: ignore[attr-defined]
        assert ids == ("queued-by-1", str(item.batch_id), str(item.id))


def test_a_refused_image_is_one_info_line_naming_why(user: Any, caplog: pytest.LogCaptureFixture) -> None:
    (item,) = queue_items(user)
    default_storage.delete(item.source.name)
    default_storage.save(item.source.name, io.BytesIO(b"not an image at all"))
    with caplog.at_level(logging.INFO):
        run_ready_jobs()
    (refused,) = processing_lines(caplog)
    assert (refused.levelname, refused.exc_info) == ("INFO", None)
    assert refused.getMessage().startswith("the item failed: not an image")


def test_an_item_requeued_after_its_worker_died_keeps_the_request_that_queued_it(
    user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(LogContext())
    item = queued_by_request(user, "queued-by-2")
    assert claim_next_job("doomed-worker") is not None
    Item.objects.filter(pk=item.pk).update(
        status=Status.PROCESSING, claim_token="dead", lease_until=timezone.now() - timedelta(seconds=1)
    )
    with caplog.at_level(logging.WARNING, logger="removal.services.queueing"):
        assert services.items_requeue_stale() == 1
    again = DBTaskResult.objects.get(pk=Item.objects.get(pk=item.pk).task_id)
    assert again.args_kwargs == {"args": [str(item.id)], "kwargs": {"request_id": "queued-by-2"}}
    (requeued,) = [record for record in caplog.records if record.name == "removal.services.queueing"]
    assert (requeued.request_id, requeued.item_id) == ("queued-by-2", str(item.id))  # type: ignore[attr-defined]


def test_an_inactive_accounts_images_wait_and_go_on_once_it_is_active_again(user: Any, settings: Any) -> None:
    """Made inactive (in the admin; a deleted account is made so until its job deletes it), its queued images are not
    cut out; active again, the reaper queues them again and they are."""
    settings.ITEM_LEASE_SECONDS = 0
    (item,) = queue_items(user)
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert run_ready_jobs() == 1 and services.items_requeue_stale() == 0
    item.refresh_from_db()
    assert (item.status, item.attempts) == (Item.Status.QUEUED, 0)

    user.is_active = True
    user.save(update_fields=["is_active"])
    assert services.items_requeue_stale() == 1 and run_ready_jobs() == 1
    item.refresh_from_db()
    assert item.status == Item.Status.DONE and item.attempts == 1
