"""Account deletion: the account ends at once, in a short transaction (account_delete); its rows and stored files go
in a durable job (account_data_delete), however much it holds and whether storage answers just then.

An ended account is inactive, with an unusable password and no session: Django's authentication and
api_key_authenticate refuse it as they refuse an unknown user, and removal's queue leaves its waiting images
(removal.services.processing). Its username and address are freed at once, so both may sign up again at once.
"""

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.dispatch import Signal
from django.tasks import Task, TaskResultStatus
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from accounts.models import ApiKey, BrowserSession

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# The job's path, as the queue stores it (accounts/tasks.py imports this module, not the other way round).
DELETE_ACCOUNT_TASK = "accounts.tasks.delete_account"
# Ahead of every image's job (their priorities run up to 100): the deleted account's data goes first.
DELETE_ACCOUNT_PRIORITY = 100
# A deletion that storage (or the database) refuses is tried again 5 minutes later, the wait doubling up to 6 hours,
# until it goes through: an ended account is never left half deleted.
DELETE_RETRY_SECONDS = 300
DELETE_RETRY_MOST_SECONDS = 6 * 3600
# An ended account's username until its job deletes it ("deleted:<id>").
DELETED_USERNAME_PREFIX = "deleted:"


# Sent by an ended account's deletion job (account_data_delete) outside any transaction, before the user's rows go in
# one: a receiver may delete the user's data in steps of its own first (removal: its batches), so that the last
# transaction stays short whatever the account held.
account_data_release = Signal()


class AccountDataNotDeleted(Exception):
    """Raised by a `pre_delete` receiver that could not remove the user's data (storage down): the deletion is
    rolled back; the job tries again later, an admin's deletion may be asked again."""


def deleted_username(user_id: int) -> str:
    """The username an ended account holds until its job deletes it: one no sign-up can take (':' is refused in
    usernames), which frees its own."""
    return f"{DELETED_USERNAME_PREFIX}{user_id}"


def account_delete(*, user: "User") -> None:
    """End the account now and queue the deletion of its rows and files (account_data_delete), in one short
    transaction whatever the account holds: it can no longer log in (inactive, no usable password), every browser
    of it is logged out, and its username and address are free for a new account. Only counts are logged."""
    with transaction.atomic():
        keys = ApiKey.objects.filter(user=user).count()
        user.is_active, user.username, user.email = False, deleted_username(user.pk), ""
        user.set_unusable_password()
        user.save(update_fields=["is_active", "username", "email", "password"])  # its folded names follow
        BrowserSession.objects.filter(user=user).delete()
        _data_delete_enqueue(user.pk, attempt=0)
    logger.info("an account was deleted, with its %d API keys; its data goes in a job", keys)


def account_data_delete(*, user_id: int, attempt: int = 0) -> None:
    """The job account_delete queues: the user deleted, its rows by cascade and its stored files by the receivers of
    `pre_delete` (removal's purge), as a deletion in the admin. Storage or the database refusing, it is queued again
    (DELETE_RETRY_SECONDS, doubling). Run twice (a worker died in it, the reaper queued it again), it finds nothing
    left the second time."""
    user = get_user_model().objects.filter(pk=user_id, is_active=False, username=deleted_username(user_id)).first()
    if user is None:
        return  # deleted already
    try:
        account_data_release.send(sender=get_user_model(), user=user)  # in steps, each its own transaction
        with transaction.atomic():
            user.delete()
    except (AccountDataNotDeleted, DatabaseError) as exc:
        delay = min(DELETE_RETRY_SECONDS * 2**attempt, DELETE_RETRY_MOST_SECONDS)
        tried = f"could not delete an ended account's data (try {attempt + 1})"
        logger.warning("%s; trying again in %d s: %s", tried, delay, exc)
        _data_delete_enqueue(user_id, attempt=attempt + 1, delay_seconds=delay)
        return
    logger.info("an ended account's data was deleted (try %d)", attempt + 1)


def ended_accounts_requeue() -> int:
    """Queue again the deletion of ended accounts that no job will delete, how many: one whose job failed outright
    (the database gone just as it queued its next try) would otherwise stay, ended but not deleted, for good. Ended
    accounts are few, and so are their queued or running jobs (the reaper runs it hourly)."""
    pending = DBTaskResult.objects.filter(
        task_path=DELETE_ACCOUNT_TASK, status__in=(TaskResultStatus.READY, TaskResultStatus.RUNNING)
    )
    awaited = {job["args"][0] for job in pending.values_list("args_kwargs", flat=True)}
    ended = get_user_model().objects.filter(is_active=False, username__startswith=DELETED_USERNAME_PREFIX)
    orphans = [pk for pk, username in ended.values_list("pk", "username") if username == deleted_username(pk)]
    requeued = [pk for pk in orphans if pk not in awaited]
    for user_id in requeued:
        _data_delete_enqueue(user_id, attempt=0)
        logger.warning("an ended account's deletion had no job: queued again")
    return len(requeued)


def _data_delete_enqueue(user_id: int, *, attempt: int, delay_seconds: float = 0) -> None:
    """Queue account_data_delete in the caller's transaction: gone with a rollback, kept across a restart."""
    job = import_string(DELETE_ACCOUNT_TASK)
    assert isinstance(job, Task)
    job = job.using(priority=DELETE_ACCOUNT_PRIORITY)
    if delay_seconds:
        job = job.using(run_after=timezone.now() + timedelta(seconds=delay_seconds))
    job.enqueue(user_id, attempt)
