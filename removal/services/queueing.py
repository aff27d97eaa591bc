"""The item queue: each image's job and its place (fair shares between owners), the lease a worker renews while
it makes a cutout, and the reaper's requeue of what a dead worker left (`items_requeue_stale`).

Jobs are enqueued by the path the queue stores (removal.tasks.process_item): tasks.py imports the services, never
the other way round, and a job queued before an upgrade still finds its task after it.
"""

import copy
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from bgsite.log_context import current_request_id, job_context
from removal import events, selectors
from removal.models import Batch, Item
from removal.ops import limits
from removal.services.files import queued_task

logger = logging.getLogger(__name__)
Status = Item.Status


class WorkerLost(Exception):
    """Recorded on a job whose worker stopped (died, or lost its lease) before finishing it.

    Never raised: items_requeue_stale and jobs.jobs_requeue_lost write its path on the abandoned django-tasks-db
    row (lost_job_failed), where a job that really failed would carry its own exception's.
    """


def lost_job_failed(job_id: Any, *, now: Any, then: str) -> bool:
    """Mark the job `job_id`, which django-tasks-db would show running forever, failed with WorkerLost, its
    traceback saying what was done `then`; False if it is not running (it finished, or another reaper took it)."""
    return bool(
        DBTaskResult.objects.filter(pk=job_id, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
            traceback=f"the worker running this job stopped; {then}",
        )
    )


PROCESS_ITEM_TASK = "removal.tasks.process_item"
# Workers take jobs by priority, then in order of arrival. A /bgremove caller waits on its one image, so those
# jobs go ahead of every batch's (priorities 1..100 against -99..0). Within that, an image loses one step of
# priority for every FAIR_SHARE_STEP images of the same owner already waiting: someone who drops a few photos
# behind another user's thousand waits for about a step's worth of them, not for all of them, and two deep
# backlogs are worked through side by side. One owner's images keep their order.
KIND_PRIORITY = {Batch.Kind.UPLOAD: 0, Batch.Kind.BGREMOVE: 100}
FAIR_SHARE_STEP = 10
FAIR_SHARE_STEPS = 99


def job_priority(kind: str, *, waiting_ahead: int) -> int:
    """The priority of an image of `kind` whose owner has `waiting_ahead` images queued before it."""
    return KIND_PRIORITY[Batch.Kind(kind)] - min(waiting_ahead // FAIR_SHARE_STEP, FAIR_SHARE_STEPS)


def enqueue_processing(item_id: uuid.UUID, *, kind: str, waiting_ahead: int, delay_seconds: float = 0) -> uuid.UUID:
    job = queued_task(PROCESS_ITEM_TASK, delay_seconds=delay_seconds)
    job = job.using(priority=job_priority(kind, waiting_ahead=waiting_ahead))
    # The request that queued it (a retry: the one that queued its first run), for its log lines to name.
    return uuid.UUID(str(job.enqueue(str(item_id), request_id=current_request_id()).id))


def own_queue_waiting(owner_id: int, *, room_held: bool = True) -> int:
    """The owner's images waiting, under accounts.services.account_locked; with `room_held`, TooManyRequests when they
    fill the owner's part of the queue (limits.check_own_queue_room). Checked only as each request began
    (check_queue_room), requests side by side each found room and all were queued past MAX_QUEUED_ITEMS_PER_USER."""
    waiting = selectors.queued_count(owner_id)
    if room_held:
        limits.check_own_queue_room(waiting=waiting)
    return waiting


# The PostgreSQL advisory lock of the whole queue (queue_locked): a constant no other lock of the database uses.
QUEUE_LOCK_KEY = 0x6267737175657565  # "bgsqueue" in ASCII


def whole_queue_room_held(*, queued_now: int) -> None:
    """ServiceUnavailable when the images waiting server-wide, less the `queued_now` this request's transaction has
    queued, fill the queue (limits.check_whole_queue_room). Called last in the request's transaction, under
    queue_locked: requests of every account count the queue one after the other, and the lock is held for the count
    and the commit only. Counted only as each request began (check_queue_room), N accounts uploading at once each
    found room, and the queue took one request per account past MAX_QUEUED_ITEMS."""
    if queued_now:
        queue_locked()
        limits.check_whole_queue_room(waiting=selectors.queued_count() - queued_now)


def queue_locked() -> None:
    """Hold the whole queue's lock until the transaction ends. Taken after the account's row lock
    (accounts.services.account_locked) and the request's own rows, never before them: no two requests wait for each
    other's locks. PostgreSQL: a transaction-level advisory lock, which needs no row of its own (none to seed, none
    that can be missing), holds up nothing else, and is let go at commit or rollback (also behind a pooler in
    transaction mode). SQLite: the IMMEDIATE transaction holds the database's write lock already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [QUEUE_LOCK_KEY])


def announce_after_commit(*items: Item) -> None:
    """Publish the items as they are now, once the transaction commits (their batch's counts read once).

    The states are captured here: by the time the commit runs, a worker may
    already have moved an item on, and every state must reach the page.
    """
    snapshots = [copy.copy(item) for item in items]
    transaction.on_commit(lambda: events.items_changed(snapshots))


@contextmanager
def lease_renewed(item_id: uuid.UUID, token: str) -> Iterator[None]:
    """Keep extending the item's lease from a helper thread while the body runs."""

    def renew(lease_until: datetime) -> None:
        Item.objects.filter(pk=item_id, status=Status.PROCESSING, claim_token=token).update(lease_until=lease_until)

    with renewed_while_running(renew, what=f"item {item_id}"):
        yield


@contextmanager
def renewed_while_running(renew: Callable[[datetime], None], *, what: str) -> Iterator[None]:
    """Call `renew` with the end of a fresh lease (ITEM_LEASE_SECONDS from now) every third of a lease, from a helper
    thread, while the body runs: an item's cutout, and the jobs the reaper would run again (services.jobs)."""
    stop = threading.Event()

    def renewing() -> None:
        try:
            while not stop.wait(settings.ITEM_LEASE_SECONDS / 3):
                try:
                    renew(timezone.now() + timedelta(seconds=settings.ITEM_LEASE_SECONDS))
                except DatabaseError:
                    # A dropped connection or a locked table fails this renewal, not the next ones:
                    # the lease has two more chances before it runs out and the reaper takes the work back.
                    logger.warning("could not renew the lease of %s; retrying", what, exc_info=True)
                    connection.close()  # the next renewal connects afresh
        finally:
            connection.close()  # this thread's own connection

    renewer = threading.Thread(target=renewing, name=f"lease-{what}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def items_requeue_stale() -> int:
    """Queue again the items whose worker died; returns how many were re-queued.

    Two cases: a processing item whose lease ran out (the worker stopped
    renewing it), and a queued item whose job is no longer waiting to run (a
    worker took the job and died before claiming the item, or its owner's
    account was inactive then). An inactive account's items wait: a deleted
    account's go with it, a deactivated one's are queued again once it is active.
    """
    now = timezone.now()
    active = Item.objects.filter(batch__owner__is_active=True)
    expired = active.filter(status=Status.PROCESSING, lease_until__lt=now)
    orphaned = active.filter(
        status=Status.QUEUED, queued_at__lt=now - timedelta(seconds=settings.ITEM_LEASE_SECONDS)
    ).exclude(task_id__in=DBTaskResult.objects.filter(status=TaskResultStatus.READY).values("id"))
    requeued = 0
    item_id: uuid.UUID
    old_task_id: uuid.UUID | None
    kind: str
    owner_id: int
    for item_id, old_task_id, kind, owner_id in [
        *expired.values_list("id", "task_id", "batch__kind", "batch__owner_id")[:500],
        *orphaned.values_list("id", "task_id", "batch__kind", "batch__owner_id")[:500],
    ]:
        with job_context(item_id=str(item_id), request_id=_queued_by(old_task_id)), transaction.atomic():
            still_stale = Item.objects.filter(
                Q(status=Status.PROCESSING, lease_until__lt=now) | Q(status=Status.QUEUED),
                pk=item_id,
                task_id=old_task_id,
            ).update(status=Status.QUEUED, claim_token="", lease_until=None, queued_at=now)
            if not still_stale:
                continue
            ahead = selectors.queued_count(owner_id) - 1  # the others queued, this one counted since the update above
            Item.objects.filter(pk=item_id).update(task_id=enqueue_processing(item_id, kind=kind, waiting_ahead=ahead))
            if old_task_id is not None:
                lost_job_failed(old_task_id, now=now, then="the item was queued again")
            logger.warning("re-queued item %s: its worker stopped", item_id)
        transaction.on_commit(functools.partial(events.item_changed, item_id=item_id))
        requeued += 1
    return requeued


def _queued_by(task_id: uuid.UUID | None) -> str:
    """The request that queued the job `task_id` (removal.tasks.process_item's request_id), for its next job too."""
    if task_id is None:
        return ""
    arguments = DBTaskResult.objects.filter(pk=task_id).values_list("args_kwargs", flat=True).first() or {}
    return str(arguments.get("kwargs", {}).get("request_id", ""))
