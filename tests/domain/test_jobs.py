"""services.jobs: webhook deliveries, file deletions and account deletions that a dead worker left running are run
again: once their lease runs out (their worker renews it while they run), or, taken without one, LOST_AFTER after they
started."""

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from removal import services
from removal.models import JobLease
from removal.ops.worker import claim_next_job, run_ready_jobs
from removal.services import jobs
from removal.services.purge import DELETE_FILES_TASK, files_delete_later
from removal.services.queueing import WorkerLost
from removal.services.sample import MAKE_SAMPLE_TASK
from removal.services.webhooks import enqueue_webhook
from tests.conftest import photo_bytes

pytestmark = pytest.mark.django_db


def left_running(started_minutes_ago: float) -> DBTaskResult:
    """The next job claimed `started_minutes_ago` by a worker that took no lease (one of a version before leases,
    django-tasks-db's own db_worker) and then died."""
    DBTaskResult.objects.filter(status=TaskResultStatus.READY).update(run_after=timezone.now())
    job = claim_next_job("died")
    assert job is not None and job.status == TaskResultStatus.RUNNING
    DBTaskResult.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(minutes=started_minutes_ago))
    JobLease.objects.filter(job_id=job.pk).delete()
    return job


@pytest.mark.django_db(transaction=True)  # the renewer's thread writes through a connection of its own
def test_a_job_whose_lease_ran_out_is_run_again_once_and_one_whose_lease_is_renewed_never(settings: Any) -> None:
    """Its worker died as soon as it took the job: nothing renews its lease, which ends ITEM_LEASE_SECONDS later,
    long before LOST_AFTER. While a lease is renewed, the job is left to its worker however long it has run."""
    settings.ITEM_LEASE_SECONDS = 1
    enqueue_webhook(delivery_id="00000000-0000-0000-0000-000000000000")
    enqueue_webhook(delivery_id="00000000-0000-0000-0000-000000000001")
    died, alive = claim_next_job("died"), claim_next_job("alive")
    assert died is not None and alive is not None
    assert services.jobs_requeue_lost() == 0  # both within their lease
    DBTaskResult.objects.update(started_at=timezone.now() - 2 * jobs.LOST_AFTER)
    with jobs.job_lease_renewed(job=alive):
        time.sleep(1.5)  # the lease taken with the jobs ran out; only `alive`'s was renewed

        assert services.jobs_requeue_lost() == 1 and services.jobs_requeue_lost() == 0
    died.refresh_from_db(), alive.refresh_from_db()
    assert died.status == TaskResultStatus.FAILED and alive.status == TaskResultStatus.RUNNING
    again = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert again.args_kwargs == died.args_kwargs
    assert not JobLease.objects.exists()  # the lost job's went with it, the live one's when it ended


def test_a_deletion_a_dead_worker_left_running_is_run_again() -> None:
    names = [default_storage.save(f"users/1/batches/b/i/{name}", ContentFile(b"x")) for name in ("a.png", "b.png")]
    with transaction.atomic():
        files_delete_later(names)
    lost = left_running(started_minutes_ago=11)

    assert services.jobs_requeue_lost() == 1

    lost.refresh_from_db()
    assert lost.status == TaskResultStatus.FAILED and lost.exception_class_path.endswith(WorkerLost.__qualname__)
    again = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    assert (again.task_path, again.args_kwargs) == (DELETE_FILES_TASK, lost.args_kwargs)
    assert run_ready_jobs() == 1 and not any(default_storage.exists(name) for name in names)


def test_a_job_still_within_its_time_and_an_items_cutout_are_left_alone(user: Any) -> None:
    enqueue_webhook(delivery_id="00000000-0000-0000-0000-000000000000")
    running = left_running(started_minutes_ago=jobs.LOST_AFTER.total_seconds() / 60 - 1)
    services.image_submit(owner=user, upload=ContentFile(photo_bytes(size=(64, 48)), name="a.jpg"))
    DBTaskResult.objects.filter(task_path="removal.tasks.process_item").update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )

    assert services.jobs_requeue_lost() == 0

    running.refresh_from_db()
    assert running.status == TaskResultStatus.RUNNING
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()


def test_a_sample_cutout_a_dead_worker_left_running_is_made_again(settings: Any, tmp_path: Any) -> None:
    """The first screen's sample: its job was shown running for ever (in the admin's job records), and the sample
    waited for a visitor to queue it again instead of being made as the other lost jobs are."""
    settings.MEDIA_ROOT = tmp_path
    model = settings.REMBG_MODEL
    assert services.sample_cutout_or_request(model=model) is None  # queued
    lost = left_running(started_minutes_ago=11)
    assert lost.task_path == MAKE_SAMPLE_TASK

    assert services.jobs_requeue_lost() == 1

    assert run_ready_jobs() == 1
    assert services.sample_cutout(model=model) is not None
