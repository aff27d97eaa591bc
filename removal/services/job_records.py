"""The job records (django-tasks-db rows) of the users' work: found by the id of the image or webhook delivery they
name (their first argument), deleted with that work, and the finished ones purged once their keeping time is over."""

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from removal.models import Item, WebhookDelivery

# How long a finished job's record is kept when RETENTION_DAYS is 0 (the users' work kept for good): the records are
# the workers' bookkeeping (what ran, when, a failure's traceback for an operator), not the users' work, and they grew
# by one an image, without end, where nothing purged them.
JOB_RECORDS_KEPT_WITHOUT_RETENTION = timedelta(days=30)


def finished_jobs_purge(*, older_than: datetime, chunk: int = 2000) -> int:
    """Delete the records of the jobs that finished before `older_than` (never one waiting or running), `chunk` at a
    time, each its own transaction: a year's records deleted at once held SQLite's write lock while uploads and
    workers waited for it. How many."""
    deleted = 0
    while ids := list(DBTaskResult.objects.filter(finished_at__lt=older_than).values_list("pk", flat=True)[:chunk]):
        DBTaskResult.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


def jobs_of(items: QuerySet[Item], deliveries: QuerySet[WebhookDelivery]) -> QuerySet[DBTaskResult]:
    """The job records that name `items` (processing) or `deliveries` (webhooks)."""
    return DBTaskResult.objects.filter(args_kwargs__args__0__in=work_ids_of(items, deliveries))


def job_records_delete(
    items: QuerySet[Item],
    deliveries: QuerySet[WebhookDelivery],
    *,
    named: dict[str, list[Any]] | None = None,
    chunk: int = 1000,
) -> int:
    """Delete the job records that name `items` or `deliveries` but those running now; how many. `named`: the
    records read already (job_records_naming), for a caller that deletes in steps, the job table read once.

    A job running now keeps its record until its worker has written its end (then the retention purge takes it):
    deleted under the worker, that write failed, an error logged with its traceback.
    """
    work_ids = work_ids_of(items, deliveries)
    if not work_ids:
        return 0
    named = job_records_naming(work_ids, chunk=chunk) if named is None else named
    job_ids = [job_id for work_id in work_ids for job_id in named.get(work_id, ())]
    return sum(DBTaskResult.objects.filter(pk__in=ids).delete()[0] for ids in itertools.batched(job_ids, chunk))


def work_ids_of(items: QuerySet[Item], deliveries: QuerySet[WebhookDelivery]) -> set[str]:
    """The ids of `items` and `deliveries`, as their jobs name them (their first argument)."""
    work_ids = {str(pk) for pk in items.values_list("id", flat=True).iterator()}
    return work_ids | {str(pk) for pk in deliveries.values_list("id", flat=True).iterator()}


def job_records_naming(work_ids: set[str], *, chunk: int = 1000) -> dict[str, list[Any]]:
    """The ids of the job records, but those running now, that name each of `work_ids`: read in one pass over the job
    records, `chunk` at a time: the query naming every id of an account of 300,000 images (jobs_of) passed SQLite's
    250,000 variables, and the account could not be deleted."""
    named: dict[str, list[Any]] = defaultdict(list)
    records = DBTaskResult.objects.exclude(status=TaskResultStatus.RUNNING).values_list("id", "args_kwargs__args__0")
    for job_id, work_id in records.iterator(chunk_size=chunk):  # read whole
        # Not every job's first argument is text: delete_files' is a list (unhashable: `in` a set raised TypeError).
        if isinstance(work_id, str) and work_id in work_ids:
            named[work_id].append(job_id)
    return named
