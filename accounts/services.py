"""Account lifecycle: sign-up (open or by invitation), deletion, API keys (plain key returned once, then authenticate,
revoke), the webhook secret, and logging out the account's other browsers. A change of e-mail address, confirmed from
the new address: accounts.email_changes."""

import hmac
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, models, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import confirmation, folding, selectors, sessions
from accounts.models import (
    REVOKED_API_KEY_KEPT,
    ApiKey,
    BrowserSession,
    FoldedNames,
    Invitation,
    WebhookSecret,
    token_hash,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from accounts.forms import SignupForm

logger = logging.getLogger(__name__)

KEY_TYPE = "bgs_"
PREFIX_CHARS = 8
# Writing last_used_at on every call would turn each API request into a write;
# a minute's precision is enough for the dashboard.
LAST_USED_PRECISION = timedelta(minutes=1)


class InvalidApiKey(Exception):
    """The key is unknown or malformed."""


class RevokedApiKey(Exception):
    """The key existed but was revoked."""


# Keys in use an account may hold: each one a row on the account page, and every POST made one without end.
MAX_API_KEYS = 50


# Revoked keys an account keeps (REVOKED_API_KEY_KEPT each at most): revoking one more deletes the one revoked first.
# Without it a key made and revoked in a loop added a row to the account page at each turn, for a month.
MAX_REVOKED_API_KEYS = MAX_API_KEYS


class TooManyApiKeys(Exception):
    """The account holds MAX_API_KEYS keys in use already."""


def account_locked(*, user_id: int) -> None:
    """Lock the account's row until the transaction ends (on SQLite the IMMEDIATE transaction holds the write lock): the
    requests that count what an account holds and add to it (its keys, its part of the queue, its /store images) count
    one after the other. Counted before, each of a burst found room."""
    get_user_model().objects.select_for_update().filter(pk=user_id).exists()


def api_key_create(*, user: "User", name: str) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is never stored; TooManyApiKeys past MAX_API_KEYS.
    The keys in use are counted under account_locked, so that keys made at once are counted one after the other."""
    with transaction.atomic():
        account_locked(user_id=user.pk)
        if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_API_KEYS:
            raise TooManyApiKeys
        while True:
            prefix = KEY_TYPE + secrets.token_hex(PREFIX_CHARS // 2)
            if not ApiKey.objects.filter(prefix=prefix).exists():
                break
        secret = secrets.token_urlsafe(32)
        key = ApiKey.objects.create(
            user=user,
            name=name.strip()[: ApiKey._meta.get_field("name").max_length] or "key",
            prefix=prefix,
            secret_hash=token_hash(secret),
        )
    return key, f"{prefix}_{secret}"


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    prefix, secret = _split(raw_key)
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    # Compare even when no row matched, so timing does not reveal valid prefixes.
    expected = key.secret_hash if key else token_hash("")
    if not hmac.compare_digest(expected, token_hash(secret)) or key is None or not key.user.is_active:
        raise InvalidApiKey("invalid API key")
    if key.revoked_at is not None:
        raise RevokedApiKey("this API key was revoked")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _split(raw_key: str) -> tuple[str, str]:
    """'bgs_1a2b3c4d_<secret>' -> ('bgs_1a2b3c4d', '<secret>'); ('', '') for what no key looks like (a prefix
    other than letters and digits, a NUL that PostgreSQL would refuse, a character outside ASCII)."""
    raw_key = raw_key.strip()
    head = KEY_TYPE + raw_key[len(KEY_TYPE) : len(KEY_TYPE) + PREFIX_CHARS]
    rest = raw_key[len(head) :]
    if not raw_key.isascii() or not raw_key.startswith(KEY_TYPE) or not rest.startswith("_"):
        return "", ""
    if not head[len(KEY_TYPE) :].isalnum():
        return "", ""
    return head, rest[1:]


def api_key_revoke(*, user: "User", key_id: int) -> bool:
    """Revoke one of the user's keys at once; False if there is no such active key. Past MAX_REVOKED_API_KEYS revoked
    keys, the ones revoked first are deleted."""
    with transaction.atomic():
        if ApiKey.objects.filter(pk=key_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now()) != 1:
            return False
        revoked = ApiKey.objects.filter(user=user, revoked_at__isnull=False).order_by("-revoked_at", "-pk")
        ApiKey.objects.filter(pk__in=list(revoked.values_list("pk", flat=True)[MAX_REVOKED_API_KEYS:])).delete()
    return True


def revoked_api_keys_delete() -> int:
    """Delete the keys revoked over REVOKED_API_KEY_KEPT ago (in the workers' daily sweep): how many. Nothing refers to
    a key's row (the usage, batches and images are the account's), so only the key goes."""
    deleted, _ = ApiKey.objects.filter(revoked_at__lt=timezone.now() - REVOKED_API_KEY_KEPT).delete()
    return deleted


def webhook_secret_for(*, user: "User") -> str:
    """The account's webhook signing secret, made on first use."""
    secret, _ = WebhookSecret.objects.get_or_create(user=user, defaults={"secret": _new_webhook_secret()})
    return secret.secret


def webhook_secret_rotate(*, user: "User") -> str:
    secret, _ = WebhookSecret.objects.update_or_create(user=user, defaults={"secret": _new_webhook_secret()})
    return secret.secret


def _new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def browser_log_out(*, user: "User", handle: str) -> bool:
    """Log out the account's browser that `handle` names (BrowserSession.handle); False when none is logged in so."""
    for session in selectors.logged_in_sessions(user):
        if session.handle == handle:
            session.delete()
            return True
    return False


# The most browsers an account stays logged in on: each log-in past them logs out the oldest. Nothing else bounded
# them for the two weeks a session lasts: a script logging in without keeping its cookie, ten times a minute (the
# log-in rate limit), left up to 200,000 sessions, every one read at each look at the account page.
MAX_BROWSERS_PER_ACCOUNT = 100


def browsers_over_limit_log_out(*, user: "User", logging_in: str) -> int:
    """Log out the account's browsers past the MAX_BROWSERS_PER_ACCOUNT latest log-ins, `logging_in` (the session
    logging in now) counted among them; how many."""
    older = (
        BrowserSession.objects.filter(user=user)
        .exclude(session_key=logging_in)
        .order_by(models.F("logged_in_at").desc(nulls_last=True), "-expire_date")
        .values_list("session_key", flat=True)[MAX_BROWSERS_PER_ACCOUNT - 1 :]
    )
    deleted, _ = BrowserSession.objects.filter(session_key__in=list(older)).delete()
    return deleted


def sessions_expired_delete() -> None:
    """Delete the sessions past their expiry (Django's `clearsessions`), which nothing else removes: a browser that
    never came back, or never logged out."""
    sessions.SessionStore.clear_expired()


def browsers_log_out(*, user: "User", but: str | None) -> int:
    """Log out every browser of the account but the session `but` (the one asking; None for all): how many, as the
    account page lists them (selectors.logged_in_sessions; sessions that log in no more go too, uncounted). Their
    pages' live updates stop at their next look at the session."""
    others = [session for session in selectors.logged_in_sessions(user) if session.session_key != but]
    BrowserSession.objects.filter(user=user).exclude(session_key=but or "").delete()
    return len(others)


class SignupRefused(Exception):
    """Sign-up is closed, or the invitation is unknown, used or expired."""


class AccountTaken(Exception):
    """Another account took the username or the address (`field`) between the form's check and the save."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} taken")
        self.field = field


def account_create(*, form: "SignupForm", invitation_token: str = "") -> "User":
    """The new user from a valid sign-up form, under the SIGNUP rule.

    With SIGNUP=invite the invitation is claimed in the same transaction as the user is
    made: of two sign-ups racing on one link, exactly one gets an account. Of two racing
    on one username (however spelt) or address, one gets through; the other gets AccountTaken.
    """
    if settings.SIGNUP == "closed":
        raise SignupRefused("sign-up is closed")
    try:
        with transaction.atomic():
            _username_hold(form.cleaned_data["username"])
            if selectors.username_taken(form.cleaned_data["username"]):
                raise AccountTaken("username")
            confirmation.abandoned_address_take(email=form.cleaned_data["email"], proven=False)
            user = form.save()
            confirmation.unconfirmed_mark(user=user)  # until the link mailed to it is followed
            if settings.SIGNUP == "invite" and not invitation_redeem(token=invitation_token, user=user):
                raise SignupRefused("invalid invitation")
    except IntegrityError:
        # Which one the other sign-up took, asked as the form asked: the database's message differs between them.
        if selectors.username_taken(form.cleaned_data["username"]):
            raise AccountTaken("username") from None
        if selectors.email_taken(form.cleaned_data["email"]):
            raise AccountTaken("email") from None
        raise
    return user


def _username_hold(username: str) -> None:
    """Make other sign-ups for `username`, however it is spelt ("Bob", "BOB"), wait until this transaction ends, so that
    the look-up after it sees theirs: the database holds each spelling to one account (User.username is unique) but not
    each folded name, which an existing installation may already share (two accounts made before names were folded).
    SQLite needs nothing: its transactions take the write lock as they begin (settings: IMMEDIATE)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # a lock for this transaction on 60 bits of the folded name's SHA-256
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(folding.username_key(username)[:15], 16)])


def folded_names_save(*, user: "User") -> None:
    """Keep the user's username and address as they are compared (FoldedNames): IntegrityError, which spoils the
    transaction it is in, when another account has the address."""
    names = FoldedNames(
        user=user, username_key=folding.username_key(user.username), email_key=folding.email_key(user.email)
    )
    FoldedNames.objects.bulk_create(
        [names], update_conflicts=True, unique_fields=["user"], update_fields=["username_key", "email_key"]
    )


def folded_names_fill() -> list["User"]:
    """Write the folded names of every account that has none (selectors.users_without_folded_names); the accounts
    whose address another account has already are left without, and returned: which of them keeps it is the
    operator's call, as at migration accounts.0004."""
    refused = []
    for user in selectors.users_without_folded_names().iterator():
        try:
            with transaction.atomic():
                folded_names_save(user=user)
        except IntegrityError:
            refused.append(user)
    return refused


def invitation_create(
    *, created_by: "User | None" = None, note: str = "", days: int | None = None
) -> tuple[Invitation, str]:
    """A new invitation and its token (for the link), which is never stored."""
    invitation = Invitation(note=note.strip()[: Invitation._meta.get_field("note").max_length], created_by=created_by)
    token = invitation_token_set(invitation=invitation, days=days)
    invitation.save()
    return invitation, token


def invitation_token_set(*, invitation: Invitation, days: int | None = None) -> str:
    """Give an unsaved invitation its token hash and expiry; the token, for the link."""
    token = secrets.token_urlsafe(24)
    invitation.token_hash = token_hash(token)
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_DAYS if days is None else days)
    return token


def invitation_path(token: str) -> str:
    """The sign-up page's path with the invitation in it."""
    return f"{reverse('signup')}?{urlencode({'invitation': token})}"


def invitation_usable(token: str) -> bool:
    """Whether the token opens sign-up now (unused and not expired)."""
    return bool(token) and _open_invitations(token).exists()


def invitation_redeem(*, token: str, user: "User") -> bool:
    """Mark the invitation used by `user`; False if it was not usable (claimed by one update, never twice)."""
    return bool(token) and _open_invitations(token).update(used_at=timezone.now(), used_by=user) == 1


def _open_invitations(token: str) -> "models.QuerySet[Invitation]":
    return Invitation.objects.filter(token_hash=token_hash(token), used_at__isnull=True, expires_at__gt=timezone.now())
