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
