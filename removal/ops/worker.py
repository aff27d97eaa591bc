"""Worker threads that run the queued jobs, and the reaper that recovers lost ones.

Uses django-tasks-db's own job claiming and running; what is added here:
threads that wake as soon as a job is queued in the same process (instead of
sleeping out the poll interval), model sessions warmed before the first job, and a reaper
that re-queues items whose worker died, and the webhook deliveries, file deletions and account deletions a dead
worker left running, which hold a lease while they run (django-tasks-db alone would leave them running forever).
"""

import logging
import sys
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, close_old_connections, transaction
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from accounts import deletion as account_deletion
from removal import events, services
from removal.cutout import pipeline, providers
from removal.cutout.installed import installed_models, weights_sha256
from removal.ops import connections, heap, metrics

logger = logging.getLogger(__name__)

# Idle workers wait on this; it is notified when a job is queued from this
# process. The counter lets a worker notice a job queued between its last look
# and its wait, so none sleeps out the poll interval with work waiting.
_job_queued = threading.Condition()
_jobs_queued_count = 0


def notify_workers() -> None:
    """Wake this process's idle workers: a job was queued."""
    global _jobs_queued_count
    with _job_queued:
        _jobs_queued_count += 1
        _job_queued.notify_all()


def _wake_workers(**kwargs: Any) -> None:
    """Once the job is committed: this process's idle workers, or where it has none those of the worker processes."""
    transaction.on_commit(notify_workers if live_worker_threads() else events.jobs_queued)


task_enqueued.connect(_wake_workers, dispatch_uid="removal.ops.worker.wake")


def claim_next_job(worker_id: str) -> DBTaskResult | None:
    """Take the next ready job, exactly as django-tasks-db's worker does."""
    jobs = DBTaskResult.objects.ready().filter(backend_name="default")
    with exclusive_transaction(jobs.db):
        try:
            job = jobs.get_locked()
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise
        if job is not None:
            job.claim(worker_id)
            services.job_lease_taken(job=job)  # one the reaper would run again: leased, with no moment unleased
    return job


def run_job(job: DBTaskResult, worker_id: str) -> None:
    runner = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    with services.job_lease_renewed(job=job):  # renewed while it runs, however long: the reaper leaves it
        runner.run_task(job)


def run_ready_jobs(worker_id: str = "inline") -> int:
    """Run jobs in the calling thread until none is ready (management, tests)."""
    ran = 0
    while (job := claim_next_job(worker_id)) is not None:
        run_job(job, worker_id)
        ran += 1
    return ran


_pools: list["WorkerPool"] = []
PURGE_EVERY_SECONDS = 3600
# Batches (and /store images) a pass of the reaper purges at most: 2-25 s (on S3 a listing a batch).
PURGE_MOST_PER_PASS = 500
# Each sweep lists all of storage (on S3 a request per 1,000 files), and looks only at files a day old.
ORPHAN_SWEEP_EVERY_SECONDS = 24 * 3600
# The longest a worker waits before it tries again to take a job, while each try fails (the database's disk full, the
# database gone): without it each thread logged a traceback at every poll, 4 a second in the audit's full disk.
FAILING_WAIT_MAX_SECONDS = 30.0


def retention_pass() -> bool:
    """The reaper's purge of what is older than RETENTION_DAYS, the oldest PURGE_MOST_PER_PASS batches and /store
    images; whether more are left. A backlog (retention turned on over a year's batches, workers stopped for weeks)
    purged whole held the reaper for hours, 15 minutes for 200,000 batches on local storage, on S3 hours, while the
    images of a worker that died meanwhile waited to be queued again. With RETENTION_DAYS=0 the users' work is kept,
    and only the records of jobs finished JOB_RECORDS_KEPT_WITHOUT_RETENTION ago go. First, ended accounts whose
    deletion no job will do get one (accounts.deletion.ended_accounts_requeue)."""
    account_deletion.ended_accounts_requeue()
    now = timezone.now()
    if settings.RETENTION_DAYS <= 0:
        if jobs := services.finished_jobs_purge(older_than=now - services.JOB_RECORDS_KEPT_WITHOUT_RETENTION):
            logger.info("retention: %d job records (RETENTION_DAYS=0 keeps the users' work)", jobs)
        return False
    counts = services.expired_purge(older_than=now - timedelta(days=settings.RETENTION_DAYS), most=PURGE_MOST_PER_PASS)
    if counts.batches or counts.stored_images:
        logger.info("retention: %s", counts)
    return counts.more


def live_worker_threads() -> int:
    """Worker threads running in this process (0 in a web-only process)."""
    return sum(thread.is_alive() for pool in _pools for thread in pool._threads)


class WorkerPool:
    """N job threads plus one reaper thread; the threads run the models as ORT_LAYOUT says (cutout.providers)."""

    def __init__(self, *, threads: int, name: str = "worker") -> None:
        self.size = threads
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._record_lock = threading.Lock()  # no record of it is renewed once stop() has deleted it

    def start(self) -> None:
        # Before the threads: a runworker process has no lifespan to do it (a second call changes nothing).
        heap.tend_heap(trim_every_seconds=settings.HEAP_TRIM_SECONDS, arenas=settings.HEAP_ARENAS)
        if switch_interval_ms := providers.layout().switch_interval_ms:
            sys.setswitchinterval(switch_interval_ms / 1000)
        for index in range(self.size):
            thread = threading.Thread(target=self._work, args=(f"{self.name}-{index}",), name=f"{self.name}-{index}")
            thread.start()
            self._threads.append(thread)
        reaper = threading.Thread(target=self._reap, name=f"{self.name}-reaper", daemon=True)
        reaper.start()
        _pools.append(self)
        metrics.WORKER_THREADS.inc(self.size)
        switch_ms = sys.getswitchinterval() * 1000
        logger.info("started %s with %d worker threads; GIL switch interval %g ms", self.name, self.size, switch_ms)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the jobs in hand, take no new ones."""
        self._stopping.set()
        notify_workers()
        for thread in self._threads:
            thread.join(timeout)
        metrics.WORKER_THREADS.dec(self.size)
        with self._record_lock:
            try:
                services.worker_process_gone(name=self.name)
            except Exception:  # the database gone: the other processes forget it once ITEM_LEASE_SECONDS have passed
                logger.exception("could not delete the record of %s", self.name)

    def _record_what_runs(self) -> None:
        """Say in the database that this pool's threads live and what they run the models on (WorkerProcess), for the
        web processes that have no worker threads to ask."""
        with self._record_lock:
            if not self._stopping.is_set():
                runs_on, layout = providers.active(), providers.layout()
                services.worker_process_seen(
                    name=self.name,
                    threads=self.size,
                    providers=runs_on,
                    layout=layout.name,
                    max_batch=layout.max_batch,
                    models=installed_models(settings.U2NET_HOME),
                    weights_sha256=self._default_weights(),
                )

    @staticmethod
    def _default_weights() -> dict[str, str]:
        """The SHA-256 of the default model's weights as this process loaded them (the first screen's sample is made
        with them, and a web process names it by them), read once a process."""
        found = weights_sha256(settings.U2NET_HOME, settings.REMBG_MODEL)
        return {settings.REMBG_MODEL: found} if found else {}

    def _sample_requested(self) -> None:
        """The first screen's sample cutout with the default model, queued for the workers unless storage has it:
        made as the threads warm up, before the first visitor asks (who would otherwise queue it)."""
        try:
            model = settings.REMBG_MODEL  # with the weights this process runs, whatever the others' records say
            services.sample_cutout_or_request(model=model, weights=weights_sha256(settings.U2NET_HOME, model) or "")
        except Exception:
            logger.exception("could not queue the first screen's sample cutout; its first visitor queues it")

    def _work(self, worker_id: str) -> None:
        try:
            # Load the image core and the model before the first job so that job is not slowed by them.
            pipeline.load()
            pipeline.model_session(settings.REMBG_MODEL, settings.U2NET_HOME, solo_threads=settings.ORT_SOLO_THREADS)
        except pipeline.ModelNotInstalled:
            logger.exception("worker %s has no model; jobs will fail until it is installed", worker_id)
        except Exception:  # a damaged file: the thread lives on, so that each job fails and says why, not waits
            logger.exception("worker %s could not load its model; jobs will fail until it is mended", worker_id)
        try:
            self._record_what_runs()  # at once, with what its session runs on: the reaper renews it
        except Exception:
            logger.exception("worker %s could not record what it runs the models on; its reaper tries again", worker_id)
        failures = 0  # in a row: the wait doubles with each, up to FAILING_WAIT_MAX_SECONDS
        while not self._stopping.is_set():
            with _job_queued:
                seen = _jobs_queued_count
            try:
                connections.renew_if_due()
                job = claim_next_job(worker_id)
                failures = 0
                if job is not None:
                    run_job(job, worker_id)
                    continue
            except Exception:
                failures += 1
                logger.exception("worker %s could not take a job; retrying (%d in a row)", worker_id, failures)
            with _job_queued:
                if seen == _jobs_queued_count:
                    _job_queued.wait(min(settings.WORKER_POLL_SECONDS * 2**failures, FAILING_WAIT_MAX_SECONDS))
        close_old_connections()

    def _reap(self) -> None:
        self._sample_requested()
        interval = max(1.0, settings.ITEM_LEASE_SECONDS / 4)
        next_purge = next_sweep = time.monotonic() + PURGE_EVERY_SECONDS / 10  # not all at start-up
        while not self._stopping.wait(interval):
            try:
                close_old_connections()
                self._record_what_runs()  # first: a step that fails after it does not make this process look dead
                services.items_requeue_stale()
                services.jobs_requeue_lost()
                services.webhooks_resume_held()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                    if retention_pass():  # more at the next pass, after the re-queueing above
                        next_purge = time.monotonic()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + ORPHAN_SWEEP_EVERY_SECONDS
                    if swept := services.daily_sweep():
                        logger.info("deleting %d stored files that no row names (left by interrupted work)", swept)
            except Exception:
                logger.exception("reaper pass failed; will retry")
