"""Jobs a worker died running, other than an item's cutout (which its lease recovers: queueing.items_requeue_stale).

A webhook delivery gives up on its POST after 10 s, a file deletion takes seconds and an account's deletion (its rows
and files, accounts.deletion) a minute or so, so one still marked running long after it started was lost with its
worker (killed, or its machine gone). django-tasks-db would show it running forever and never run it again; here it
is marked failed and queued once more with the same arguments. All are safe to run twice: a deletion deletes what is
still there, and a delivery that was already recorded as sent (or given up) does nothing; one that was not is sent
again, which webhook receivers must allow for (X-Bgsite-Delivery names it).
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.deletion import DELETE_ACCOUNT_TASK
from removal.services.files import queued_task
from removal.services.purge import DELETE_FILES_TASK
from removal.services.queueing import lost_job_failed
from removal.services.webhooks import DELIVER_WEBHOOK_TASK

logger = logging.getLogger(__name__)

RERUN_TASKS = (DELIVER_WEBHOOK_TASK, DELETE_FILES_TASK, DELETE_ACCOUNT_TASK)
LOST_AFTER = timedelta(minutes=10)


def jobs_requeue_lost() -> int:
    """Queue again the webhook deliveries, file deletions and account deletions whose worker died running them; how
    many."""
    now = timezone.now()
    lost = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, task_path__in=RERUN_TASKS, started_at__lt=now - LOST_AFTER
    )
    requeued = 0
    for job in lost[:500]:
        with transaction.atomic():
            if not lost_job_failed(job.pk, now=now, then="it was queued again"):
                continue
            arguments = job.args_kwargs
            queued_task(job.task_path).using(priority=job.priority).enqueue(*arguments["args"], **arguments["kwargs"])
        logger.warning("re-queued job %s (%s): its worker stopped", job.pk, job.task_path)
        requeued += 1
    return requeued
