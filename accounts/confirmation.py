"""The confirmation of the address an account is signed up with. Sign-up only asks for it, so a mistyped one, or
someone else's, would have let its owner reset the password and take the account, and kept the address from its
owner. So an address given at sign-up is unconfirmed (accounts.models.UnconfirmedAddress) until the signed link mailed
to it is followed: no password reset is mailed to it meanwhile (forms.PasswordResetForm), and once the link's validity
(PASSWORD_RESET_TIMEOUT) has passed since the sign-up, its owner may take it: by signing up with it, or at once by an
address change, whose link proves it theirs; the account that held it is left without an address, and told so on its
page and at its next log-in (accounts.models.LostAddress). The account works all along. Every other address is
confirmed: an address change's (by its link), the admin's, createsuperuser's, and those of the accounts made before
sign-ups were confirmed."""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import folding, mails, selectors
from accounts.models import FoldedNames, LostAddress, UnconfirmedAddress

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)

ADDRESS_CONFIRMATION_SALT = "accounts.address-confirmation"


class ConfirmationRefused(Exception):
    """The link is not one this site made, is older than PASSWORD_RESET_TIMEOUT, or its address is confirmed already
    or is no longer the account's."""


class AddressConfirmedAlready(ConfirmationRefused):
    """The link's address is the account's, and confirmed: the link was followed already (opened again, on another
    device, or back on its page), or the address confirmed otherwise."""

    def __init__(self, user: "User") -> None:
        super().__init__(user.pk)
        self.user = user


def unconfirmed_mark(*, user: "User") -> None:
    """Mark the address the user has just been signed up with as unconfirmed, from now."""
    if user.email:
        mark = {"email_key": folding.email_key(user.email), "since": timezone.now()}
        UnconfirmedAddress.objects.update_or_create(user=user, defaults=mark)


def unconfirmed_mark_clear(*, user: "User") -> None:
    """The user's address was confirmed otherwise (an address change's link): the sign-up's mark goes, whichever
    address it was of, so that a change back to that address finds it confirmed too."""
    UnconfirmedAddress.objects.filter(user=user).delete()


def addresses_confirm_by_staff(*, users: "QuerySet[User]") -> list[int]:
    """Confirm the addresses of `users`, as their links would (support staff who know the addresses their owners'):
    the ids of those that were unconfirmed. The marks are locked, as a taker (abandoned_address_take) locks them: an
    address is taken first, and no longer the account's, or confirmed first, and then not taken."""
    with transaction.atomic():
        marks = list(selectors.unconfirmed_marks_of(users).select_for_update())
        UnconfirmedAddress.objects.filter(pk__in=[mark.pk for mark in marks]).delete()
    confirmed = [mark.user_id for mark in marks]
    for user_id in confirmed:
        logger.info("account %s had its address confirmed by staff", user_id)
    return confirmed


def abandoned_address_take(*, email: str, proven: bool) -> None:
    """Leave without an address the account that holds `email` unconfirmed, when its owner may take it: once the
    link's validity has passed since that account's sign-up, or at once when `proven` (an address change's link was
    followed). Call it in the transaction that gives the address to another account: the unique constraint on
    FoldedNames.email_key still decides between two takers at once, and the holder's mark, locked here, between a
    taker and the holder's own confirmation."""
    with transaction.atomic():
        for mark in _takeable_mark(email, proven=proven).select_for_update():
            user_id = mark.user_id  # the mark's key: None once it is deleted
            holder = get_user_model().objects.filter(pk=user_id)
            held = holder.values_list("email", flat=True).get()
            holder.update(email="")
            FoldedNames.objects.filter(user=user_id).update(email_key="")
            mark.delete()
            lost = {"email": held, "lost_at": timezone.now(), "told_at_log_in": None}
            LostAddress.objects.update_or_create(user_id=user_id, defaults=lost)  # it is told: address_lost_tell
            logger.info("account %s lost the address it never confirmed to another account", user_id)


def address_lost_tell(*, user: "User") -> str:
    """The address `user` lost to another account (abandoned_address_take), if it has no address since and its log-in
    has not been told yet ('' if not): to tell at this log-in, the first after the loss, and only that one (the account
    page says it while the account has no address: selectors.address_lost)."""
    if user.email:
        return ""
    untold = LostAddress.objects.filter(user=user, told_at_log_in__isnull=True)
    email = untold.values_list("email", flat=True).first()
    return email if email and untold.update(told_at_log_in=timezone.now()) else ""  # claimed by one log-in of two


def address_lost_forget(*, user: "User") -> None:
    """The account has an address again: nothing more to tell of the one it lost."""
    LostAddress.objects.filter(user=user).delete()


def address_may_be_taken(email: str, *, proven: bool) -> bool:
    """Whether abandoned_address_take would take `email` from the account that holds it."""
    return _takeable_mark(email, proven=proven).exists()


def _takeable_mark(email: str, *, proven: bool) -> "QuerySet[UnconfirmedAddress]":
    """The unconfirmed mark of the account holding `email` that its owner may take: at once when `proven`, else once
    the link's validity (PASSWORD_RESET_TIMEOUT) has passed since that account's sign-up."""
    since_before = None if proven else timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return selectors.unconfirmed_holding(email, since_before=since_before)


def confirmation_token(*, user: "User") -> str:
    """What the link confirming the user's address carries: signed, naming the account and the address, so that it
    stops working once the address changes."""
    return signing.dumps({"user": user.pk, "email": user.email}, salt=ADDRESS_CONFIRMATION_SALT)


def _link_context(user: "User", absolute_url: Callable[[str], str], host: str) -> dict[str, object]:
    link = absolute_url(reverse("address_confirm", args=[confirmation_token(user=user)]))
    return {"user": user, "link": link, "host": host, "validity": mails.link_validity()}


def confirmation_notice(*, user: "User", absolute_url: Callable[[str], str], host: str) -> mails.Notice:
    """The link mailed after sign-up, made now (in the request's language), to send once the reply has gone: the new
    account works without it, and its page offers to send it again."""
    if not user.email:
        return mails.no_notice
    return mails.notice(user.email, "address_confirm", _link_context(user, absolute_url, host))


def confirmation_resend(*, user: "User", absolute_url: Callable[[str], str], host: str) -> None:
    """Mail the link again, from the account page, which says whether it went: AddressRefused when the mail server
    refused the address for good, OSError when it could not be reached."""
    mails.mail_to(user.email, "address_confirm", _link_context(user, absolute_url, host))


def confirmation_pending(*, token: str) -> tuple["User", str]:
    """The account and the unconfirmed address a link names, or ConfirmationRefused."""
    try:
        named = signing.loads(token, salt=ADDRESS_CONFIRMATION_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:  # SignatureExpired too
        raise ConfirmationRefused from None
    user = get_user_model().objects.filter(pk=named["user"], is_active=True, email=named["email"]).first()
    if user is None:
        raise ConfirmationRefused
    if not selectors.address_unconfirmed(user):
        raise AddressConfirmedAlready(user)
    return user, user.email


def address_confirm(*, token: str) -> "User":
    """Confirm the address the link names: the account, or ConfirmationRefused (AddressConfirmedAlready once it is).
    Works once: the mark it removes is what the next use looks for, and what a taker (abandoned_address_take) locks
    and removes."""
    with transaction.atomic():
        user, email = confirmation_pending(token=token)
        if not UnconfirmedAddress.objects.filter(user=user, email_key=folding.email_key(email)).delete()[0]:
            raise ConfirmationRefused  # confirmed, or taken, by another request meanwhile
    return user
