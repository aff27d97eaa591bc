"""Every saved user's folded names (accounts.models.FoldedNames) follow its username and address, however it was
saved: sign-up, the admin, createsuperuser, a script. A log-in's session is told its browser and time, and a log-in
the address that another account took from it."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import confirmation, services, sessions


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.folded_names")
def folded_names_follow_the_user(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and not {"username", "email"} & set(update_fields):
        return  # a log-in's last_login, a new password: nothing compared changed
    services.folded_names_save(user=instance)
    if instance.email:  # given one (the admin): the one it lost to another account is no longer news
        confirmation.address_lost_forget(user=instance)


@receiver(user_logged_in, dispatch_uid="accounts.browser_session")
def session_knows_its_browser(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """What the account page lists of a log-in (accounts.sessions copies it into the session's row); the oldest
    browser logged out past MAX_BROWSERS_PER_ACCOUNT."""
    if request is None or not hasattr(request, "session"):
        return  # a log-in without a request: a test client's force_login, a script
    request.session[sessions.USER_AGENT_KEY] = request.headers.get("User-Agent", "")[: sessions.USER_AGENT_LENGTH]
    request.session[sessions.LOGGED_IN_AT_KEY] = timezone.now().isoformat()
    services.browsers_over_limit_log_out(user=user, logging_in=request.session.session_key)


@receiver(user_logged_in, dispatch_uid="accounts.address_lost")
def log_in_told_of_the_address_lost(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """The first log-in since another account took the address this one never confirmed is told so, as the account
    page tells it: no mail could (accounts.confirmation)."""
    if not hasattr(request, "_messages"):
        return  # no page to tell it on: a test client's force_login, a script
    if email := confirmation.address_lost_tell(user=user):
        messages.warning(request, render_to_string("accounts/address_lost.html", {"email": email}))  # safe: a link
