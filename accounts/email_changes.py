"""A change of an account's e-mail address, confirmed from the new address: the link mailed to it (signed, usable
once, void once the password changes), and the change it makes."""

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts import confirmation, mails, selectors
from accounts.models import UsedEmailChangeLink, token_hash
from accounts.services import folded_names_save

if TYPE_CHECKING:
    from django.contrib.auth.models import User

EMAIL_CHANGE_SALT = "accounts.email-change"


class EmailChangeRefused(Exception):
    """The link is not one this site made, is older than PASSWORD_RESET_TIMEOUT, was used already (the account's
    address is no longer the one it was made from, or UsedEmailChangeLink holds it), or the password has changed
    since it was made."""


class EmailChangedAlready(EmailChangeRefused):
    """The link was used, and its address is the account's: opened again (on another device, back on its page)."""

    def __init__(self, user: "User") -> None:
        super().__init__(user.pk)
        self.user = user


class EmailTaken(Exception):
    """Another account took the address between the link's mail and its use."""


def email_change_token(*, user: "User", new_email: str) -> str:
    """What a link confirming `new_email` as the user's address carries: signed, and naming the address it changes
    from, so it works once (and not after another change), and a mark of the password, so it stops working when the
    password changes: a link asked for by someone who had learnt the password would otherwise still take the address
    (and with it the password reset) after its owner had reset it. And the language it was asked in, that of the
    notice to the address it replaces (email_change_confirm), whatever browser opens the link."""
    change = {"user": user.pk, "email": new_email, "from": user.email, "password": _password_mark(user)}
    change["language"] = translation.get_language()
    return signing.dumps(change, salt=EMAIL_CHANGE_SALT)


def _password_mark(user: "User") -> str:
    """A value that changes with the password (an HMAC of its hash, which says nothing of it), as Django's reset
    links are made from the password's hash."""
    return salted_hmac(EMAIL_CHANGE_SALT, user.password, algorithm="sha256").hexdigest()[:20]


def email_change_request(*, user: "User", new_email: str, absolute_url: Callable[[str], str], host: str) -> None:
    """Mail `new_email` the link that makes it the user's address (email_change_confirm); `absolute_url` makes the
    link's path a URL (the request's build_absolute_uri). AddressRefused when the mail server refuses the address,
    OSError when it cannot be reached."""
    token = email_change_token(user=user, new_email=new_email)
    link = absolute_url(reverse("email_change_confirm", args=[token]))
    mails.mail_to(
        new_email, "email_change", {"user": user, "link": link, "host": host, "validity": mails.link_validity()}
    )


def email_change_pending(*, token: str) -> tuple["User", str]:
    """The account and the new address a link names, or EmailChangeRefused."""
    user, change = _pending_change(token)
    return user, change["email"]


def _pending_change(token: str) -> tuple["User", dict[str, str]]:
    try:
        change = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:  # SignatureExpired too
        raise EmailChangeRefused from None
    if UsedEmailChangeLink.objects.filter(token_hash=token_hash(token)).exists():
        changed = get_user_model().objects.filter(pk=change["user"], is_active=True, email=change["email"]).first()
        raise EmailChangedAlready(changed) if changed else EmailChangeRefused
    user = get_user_model().objects.filter(pk=change["user"], is_active=True, email=change["from"]).first()
    if user is None or not constant_time_compare(change.get("password", ""), _password_mark(user)):
        raise EmailChangeRefused
    return user, change


def email_change_confirm(*, token: str, host: str) -> tuple["User", mails.Notice]:
    """Give the account the address its link names; the account, and the notice to the address it had, to send once
    the reply has gone (a Notice), in the language the change was asked in: the link is often opened on a phone,
    whose browser may speak another."""
    try:
        with transaction.atomic():
            user, change = _pending_change(token)
            told = mails.notices_reach(user)  # the address it replaces, before it is replaced
            new_email = change["email"]
            confirmation.abandoned_address_take(email=new_email, proven=True)  # the link proves it theirs
            if selectors.email_taken(new_email, but=user):
                raise EmailTaken
            changed = get_user_model().objects.filter(pk=user.pk, email=user.email).update(email=new_email)
            _, first_use = UsedEmailChangeLink.objects.get_or_create(
                token_hash=token_hash(token), defaults={"user": user}
            )
            if not changed or not first_use:  # used by another request meanwhile
                raise EmailChangeRefused
            old_email, user.email = user.email, new_email
            folded_names_save(user=user)
            confirmation.unconfirmed_mark_clear(user=user)
            confirmation.address_lost_forget(user=user)
    except IntegrityError:  # another account took the address since email_taken looked
        raise EmailTaken from None
    if not told:
        return user, mails.no_notice
    with translation.override(change.get("language") or translation.get_language()):  # none in older links
        return user, mails.email_changed_notice(user=user, old_email=old_email, host=host)
