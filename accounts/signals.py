"""Every saved user's folded names (accounts.models.FoldedNames) follow its username and address, however it was
saved: sign-up, the admin, createsuperuser, a script."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts import services


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.folded_names")
def folded_names_follow_the_user(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and not {"username", "email"} & set(update_fields):
        return  # a log-in's last_login, a new password: nothing compared changed
    services.folded_names_save(user=instance)
