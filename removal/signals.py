"""What removal does when other parts of the site change: a user's deletion takes their files along."""

from typing import Any

from django.conf import settings
from django.db.models.signals import pre_delete

from removal import services


def user_data_purge_on_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Before a user's rows go (account page, admin or shell alike), their stored files go."""
    services.user_data_purge(user=instance)


def connect() -> None:
    pre_delete.connect(user_data_purge_on_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="user-data-purge")
