"""The worker threads of removal.ops.worker."""

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from removal.ops.worker import WorkerPool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jobs_table_gone() -> Iterator[None]:
    """Every claim of a job fails in the database, as on a full disk (`database or disk is full`) or a lost database,
    until the test ends."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE django_tasks_database_dbtaskresult RENAME TO jobs_hidden")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_hidden RENAME TO django_tasks_database_dbtaskresult")


def test_a_worker_that_cannot_take_jobs_waits_longer_each_time(
    settings: Any, jobs_table_gone: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the embedded-default audit: with DATA_DIR's disk full each thread tried again at every poll and logged
    a traceback each time (163 in 41 s from 2 threads). The wait now doubles with each failure in a row."""
    settings.WORKER_POLL_SECONDS = 0.05
    pool = WorkerPool(threads=1, name="failing")
    with caplog.at_level(logging.ERROR, logger="removal.ops.worker"):
        pool.start()
        time.sleep(4)
        pool.stop()
    failures = [record for record in caplog.records if "could not take a job" in record.getMessage()]
    # 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s of waits: 5 or 6 tries in 4 s (the model's warm-up first); at every poll, 80
    assert 2 <= len(failures) <= 7, len(failures)
    assert failures[-1].getMessage().endswith(f"({len(failures)} in a row)")


def test_the_reapers_purge_takes_a_pass_of_old_batches_at_a_time(user: Any, settings: Any, monkeypatch: Any) -> None:
    """A backlog past RETENTION_DAYS (retention turned on over a year of batches) was purged whole in one pass of
    the reaper, hours on S3, while a dead worker's images waited to be queued again; now a pass at a time, the
    next one at the reaper's next round."""
    from datetime import timedelta

    from django.utils import timezone

    from removal import services
    from removal.models import Batch
    from removal.ops import worker

    monkeypatch.setattr(worker, "PURGE_MOST_PER_PASS", 2)
    settings.RETENTION_DAYS = 30
    for _ in range(3):
        services.batch_create(owner=user)
    Batch.objects.update(created_at=timezone.now() - timedelta(days=40))
    fresh = services.batch_create(owner=user)

    assert worker.retention_pass() is True and Batch.objects.count() == 2
    assert worker.retention_pass() is False and list(Batch.objects.all()) == [fresh]


def test_with_retention_off_the_reaper_purges_only_job_records_a_month_old(user: Any, settings: Any) -> None:
    """RETENTION_DAYS=0 keeps the users' work for good; the records of finished jobs (the workers' bookkeeping, one an
    image) were kept for good too, a table growing without end. Those finished a month ago go; the batches stay, and
    so do the jobs waiting or running, however old."""
    from datetime import timedelta

    from django.tasks import TaskResultStatus
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from removal import services, tasks
    from removal.models import Batch
    from removal.ops import worker

    settings.RETENTION_DAYS = 0
    old_batch = services.batch_create(owner=user)
    Batch.objects.update(created_at=timezone.now() - timedelta(days=400))
    jobs = [tasks.delete_files.enqueue(names=[], folder=f"users/{index}/").id for index in range(6)]
    long_ago, lately = timezone.now() - timedelta(days=31), timezone.now() - timedelta(days=29)
    finished = {"status": TaskResultStatus.SUCCESSFUL, "started_at": long_ago}
    DBTaskResult.objects.filter(pk__in=jobs[:3]).update(**finished, finished_at=long_ago)
    DBTaskResult.objects.filter(pk=jobs[3]).update(**finished, finished_at=lately)
    DBTaskResult.objects.filter(pk=jobs[4]).update(status=TaskResultStatus.RUNNING, started_at=long_ago)
    DBTaskResult.objects.filter(pk=jobs[5]).update(enqueued_at=long_ago)  # waiting

    assert worker.retention_pass() is False
    assert {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)} == set(jobs[3:])
    assert list(Batch.objects.all()) == [old_batch]
