"""Jobs a worker died running, other than an item's cutout (which its lease recovers: queueing.items_requeue_stale).

A webhook delivery gives up on its POST after 10 s, a file deletion and the first screen's sample cutout take seconds,
but an account's deletion (its rows and files, accounts.deletion) takes as long as the account is large: minutes for
300,000 images. So each of these jobs holds a lease (JobLease) from the moment a worker takes it, which the worker
renews while it runs, as it does an item's; one whose lease ran out was lost with its worker (killed, or its machine
gone), however long it had run. django-tasks-db would show it running forever and never run it again; here it is
marked failed and queued once more with the same arguments. A running job with no lease (taken by a worker of a
version before leases, or by django-tasks-db's own db_worker) is taken for lost LOST_AFTER after it started. All are
safe to run twice: a deletion deletes what is still there, a sample already stored is not made again, and a delivery
that was already recorded as sent (or given up) does nothing; one that was not is sent again, which webhook receivers
must allow for (X-Bgsite-Delivery names it).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.deletion import DELETE_ACCOUNT_TASK
from removal.models import JobLease
from removal.services.files import queued_task
from removal.services.purge import DELETE_FILES_TASK
from removal.services.queueing import lost_job_failed, renewed_while_running
from removal.services.sample import MAKE_SAMPLE_TASK
from removal.services.webhooks import DELIVER_WEBHOOK_TASK

logger = logging.getLogger(__name__)

RERUN_TASKS = (DELIVER_WEBHOOK_TASK, DELETE_FILES_TASK, DELETE_ACCOUNT_TASK, MAKE_SAMPLE_TASK)
LOST_AFTER = timedelta(minutes=10)


def job_lease_taken(*, job: DBTaskResult) -> None:
    """Called as a worker takes `job`, in the same transaction: a job the reaper would run again gets its lease."""
    if job.task_path in RERUN_TASKS:
        lease_until = timezone.now() + timedelta(seconds=settings.ITEM_LEASE_SECONDS)
        JobLease.objects.update_or_create(job_id=job.pk, defaults={"lease_until": lease_until})


@contextmanager
def job_lease_renewed(*, job: DBTaskResult) -> Iterator[None]:
    """While the body runs `job`, its lease is renewed (if it has one: job_lease_taken); deleted once it ends."""
    if job.task_path not in RERUN_TASKS:
        yield
        return

    def renew(lease_until: datetime) -> None:
        JobLease.objects.filter(job_id=job.pk).update(lease_until=lease_until)

    try:
        with renewed_while_running(renew, what=f"job {job.pk}"):
            yield
    finally:
        JobLease.objects.filter(job_id=job.pk).delete()


def jobs_requeue_lost() -> int:
    """Queue again the webhook deliveries, file deletions, account deletions and sample cutouts whose worker died
    running them; how many."""
    now = timezone.now()
    leases = JobLease.objects.filter(job_id=OuterRef("pk"))
    lost = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, task_path__in=RERUN_TASKS).filter(
        Exists(leases.filter(lease_until__lt=now)) | Q(~Exists(leases), started_at__lt=now - LOST_AFTER)
    )
    requeued = 0
    for job in lost[:500]:
        with transaction.atomic():
            JobLease.objects.filter(job_id=job.pk).delete()
            if not lost_job_failed(job.pk, now=now, then="it was queued again"):
                continue
            arguments = job.args_kwargs
            queued_task(job.task_path).using(priority=job.priority).enqueue(*arguments["args"], **arguments["kwargs"])
        logger.warning("re-queued job %s (%s): its worker stopped", job.pk, job.task_path)
        requeued += 1
    JobLease.objects.filter(lease_until__lt=now - LOST_AFTER).delete()  # a finished job's its worker failed to delete
    return requeued
