"""The account's mails: a link that must arrive (an address change's, or a sign-up's sent again: its page says when
it could not be sent), and those that need not (a sign-up's link; the notices of a new password, a new address, a
deleted account, which go to a confirmed address only), made in the request, in its language, and sent once the reply
has gone (accounts.password_views.RedirectThenMail). Each from registration/<template>_subject.txt and _email.txt."""

import logging
import smtplib
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.timesince import timeuntil

from accounts import selectors

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def link_validity() -> str:
    """How long a mailed link works (PASSWORD_RESET_TIMEOUT: a password reset's, an address change's), in words of
    the current language, as its mail and page say it: "3 days", "1 hour, 30 minutes". They said "a few days"
    whatever the setting, and a link set to work for an hour was tried the next day."""
    now = timezone.now()
    return timeuntil(now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT), now, depth=2)


class AddressRefused(Exception):
    """The mail server refused the recipient for good (a 5xx reply to RCPT: no such mailbox, a domain it will not
    send to): trying again later, as for a server out of reach, would not help."""


# A notice's mail, made, and the call that sends it (logged, not raised, when it cannot be sent).
Notice = Callable[[], None]


def mail_to(address: str, template: str, context: dict[str, object]) -> None:
    """Send `template`'s mail (registration/<template>_subject.txt and _email.txt) to `address`, in the current
    language: AddressRefused when the mail server refused the address for good, else OSError when it could not be
    sent, which is logged with why (the address as [e-mail]: bgsite.logging_config)."""
    _send(_message(address, template, context), template, must_arrive=True)


def notice(address: str, template: str, context: dict[str, object]) -> Notice:
    """A mail that need not arrive (a notice), made now, in the current language, as the call that sends it, which
    the views make once their reply has gone (accounts.password_views.RedirectThenMail): sent before it, a mail server
    slow or out of reach held the page until EMAIL_TIMEOUT (31 s for a password change) for a mail nobody waits for."""
    return partial(_send, _message(address, template, context), template, must_arrive=False)


def no_notice() -> None:
    """The Notice of an account without an address: nothing to send."""


def _message(address: str, template: str, context: dict[str, object]) -> EmailMessage:
    subject = " ".join(render_to_string(f"registration/{template}_subject.txt", context).split())
    return EmailMessage(subject, render_to_string(f"registration/{template}_email.txt", context), None, [address])


def _send(message: EmailMessage, template: str, *, must_arrive: bool) -> None:
    try:
        message.send()
    except OSError as exc:  # smtplib's errors too
        logger.warning("the %s mail could not be sent: %s", template, exc)
        if must_arrive and _refused_for_good(exc):
            raise AddressRefused from exc
        if must_arrive:
            raise


def _refused_for_good(error: OSError) -> bool:
    """Whether the mail server refused every recipient with a 5xx reply (a 4xx is a "try later")."""
    refusals = error.recipients.values() if isinstance(error, smtplib.SMTPRecipientsRefused) else []
    return bool(refusals) and all(code >= 500 for code, _ in refusals)


def notices_reach(user: "User") -> bool:
    """Whether the account's notices go to its address: not when it has none, nor while it is one given at sign-up
    and not confirmed (accounts.confirmation): a stranger's, mistyped or given on purpose, would learn of the account,
    and of a change, the owner's new address."""
    return bool(user.email) and not selectors.address_unconfirmed(user)


def password_changed_notice(*, user: "User", host: str, reset_link: str) -> Notice:
    """The notice to the account's address that its password was changed (on the account's page or by a reset link),
    to send once the reply has gone: if someone else changed it, its owner learns it, and how to take the account back
    (`reset_link`, the reset page)."""
    if not notices_reach(user):
        return no_notice
    return notice(user.email, "password_changed", {"user": user, "host": host, "reset_link": reset_link})


def email_changed_notice(*, user: "User", old_email: str, host: str) -> Notice:
    """The notice to the address the account had (`old_email`) that it has a new one, to send once the reply has
    gone: if someone else changed it, its owner learns it at the address they still read."""
    if not old_email:
        return no_notice
    return notice(old_email, "email_changed", {"user": user, "host": host})


def account_deleted_notice(*, user: "User", host: str) -> Notice:
    """The notice to the account's address that the account was deleted, made before the deletion (its name and
    address go with it), to send once the reply has gone."""
    if not notices_reach(user):
        return no_notice
    return notice(user.email, "account_deleted", {"username": user.get_username(), "host": host})
