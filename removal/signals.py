"""What removal does when other parts of the site change: a user's deletion takes their files along, an ended account's
deletion job its batches first, in steps."""

from typing import Any

from django.conf import settings
from django.db.models.signals import pre_delete

from accounts.deletion import account_data_release
from removal import services


def user_data_purge_on_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Before a user's rows go (account page, admin or shell alike), their stored files go."""
    services.user_data_purge(user=instance)


def user_batches_purge_on_release(sender: Any, user: Any, **kwargs: Any) -> None:
    """An ended account's deletion job, before its one transaction: its batches go in steps of their own."""
    services.user_batches_purge(user=user)


def connect() -> None:
    account_data_release.connect(user_batches_purge_on_release, dispatch_uid="user-batches-purge")
    pre_delete.connect(user_data_purge_on_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="user-data-purge")
