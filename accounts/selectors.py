"""Reads for the account pages: API keys, the webhook secret, where the account is logged in, whether a username
or an e-mail address is taken, whether an address is confirmed, and the one lost to another account."""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from accounts import folding
from accounts.models import ApiKey, BrowserSession, FoldedNames, LostAddress, UnconfirmedAddress, WebhookSecret

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_keys_for(user: "User") -> QuerySet[ApiKey]:
    """The account's keys: those in use first, the newest on top, then the revoked ones in the order they were revoked
    (PostgreSQL sorts an empty revoked_at last unless told otherwise)."""
    return ApiKey.objects.filter(user=user).order_by(F("revoked_at").asc(nulls_first=True), "-created_at")


def webhook_secret_of(user: "User") -> str | None:
    """The account's webhook signing secret, or None before its first delivery or rotation."""
    return WebhookSecret.objects.filter(user=user).values_list("secret", flat=True).first()


@dataclass(frozen=True)
class LoggedIn:
    """A browser where the account is logged in, as the account page lists it."""

    handle: str  # BrowserSession.handle
    browser: str  # "Firefox 140 on Windows 10"
    logged_in_at: datetime | None  # None for a log-in from before sessions knew it
    current: bool  # the browser asking


def logged_in_sessions(user: "User") -> list[BrowserSession]:
    """The account's sessions that log in, as django.contrib.auth.get_user takes them, the latest log-in first: not
    those expired (kept until the daily purge), nor those signed with a password hash of before (the password changed
    in the admin, or hashed again at a log-in after a Django upgrade), which log out at their next request."""
    password_marks = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    sessions = BrowserSession.objects.filter(user=user, expire_date__gt=timezone.now())
    return [
        session
        for session in sessions.order_by(F("logged_in_at").desc(nulls_last=True))
        if _signed_with(session, password_marks)
    ]


def _signed_with(session: BrowserSession, password_marks: list[str]) -> bool:
    mark = session.get_decoded().get(HASH_SESSION_KEY) or ""
    return bool(mark) and any(constant_time_compare(mark, password_mark) for password_mark in password_marks)


@dataclass(frozen=True)
class LoggedInBrowsers:
    """The browsers the account page lists, and how many others are logged in besides (the bulk log-out's too)."""

    listed: list[LoggedIn]
    unlisted: int

    @property
    def others(self) -> int:
        """How many browsers other than the one asking are logged in: what the bulk log-out logs out."""
        return len(self.listed) + self.unlisted - any(browser.current for browser in self.listed)


# The account page lists this many browsers, the latest log-ins, and counts the others: a thousand log-ins of one
# account (a script that keeps no cookie) made a page of a thousand rows, a second to make.
BROWSERS_LISTED = 20


def logged_in_browsers(user: "User", *, current_session_key: str | None) -> LoggedInBrowsers:
    """The account's sessions that log in, the latest log-in first: the BROWSERS_LISTED latest, the one asking among
    them (in the last place, if its log-in is older), and how many more."""
    sessions = logged_in_sessions(user)
    listed = sessions[:BROWSERS_LISTED]
    if current := next((s for s in sessions[BROWSERS_LISTED:] if s.session_key == current_session_key), None):
        listed = [*listed[:-1], current]
    return LoggedInBrowsers(
        listed=[
            LoggedIn(
                handle=session.handle,
                browser=browser_named(session.user_agent),
                logged_in_at=session.logged_in_at,
                current=session.session_key == current_session_key,
            )
            for session in listed
        ],
        unlisted=len(sessions) - len(listed),
    )


def browser_named(user_agent: str) -> str:
    """A browser as its user knows it, from its User-Agent: "Firefox 140 on Windows 10", "Mobile Safari 18 on iOS
    18" (ua-parser's names and versions, as most sites list their sessions)."""
    import ua_parser  # 75 ms to import, for the account page alone: not at every process's start

    found = ua_parser.parse(user_agent).with_defaults()
    browser = " ".join(filter(None, [found.user_agent.family, found.user_agent.major]))
    system = " ".join(filter(None, [found.os.family, found.os.major]))
    if found.user_agent.family == "Other":
        browser = _("an unknown browser") if not user_agent else user_agent[:60]
    if found.os.family == "Other":
        return browser
    return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}


def username_taken(username: str) -> bool:
    """Whether an account's username differs from `username` only in case or width ("ÖMER" and "ömer",
    "straße" and "STRASSE"): two such accounts could pass for each other."""
    return FoldedNames.objects.filter(username_key=folding.username_key(username)).exists()


def accounts_named(name: str) -> QuerySet["User"]:
    """The accounts whose username, or address, is `name` as the sign-up compares them (the admin's search): one
    indexed look-up of the folded names, where a case-insensitive match of the usernames reads every user."""
    keys = FoldedNames.objects.filter(username_key=folding.username_key(name))
    if "@" in name:
        keys = keys | FoldedNames.objects.filter(email_key=folding.email_key(name))
    return get_user_model().objects.filter(pk__in=keys.values("user"))


def email_taken(email: str, *, but: "User | None" = None) -> bool:
    """Whether an account other than `but` has `email`, whatever its case and however its domain is spelt
    ("x@ÉXAMPLE.com", "x@xn--xample-9ua.com"): a password reset for it would open each of them."""
    return any(user != but for user in accounts_with_email(email))


def accounts_with_email(email: str) -> list["User"]:
    """The accounts whose address is `email` as email_taken compares them (a password reset finds them so)."""
    if not email:
        return []
    same = FoldedNames.objects.filter(email_key=folding.email_key(email)).values("user")
    return list(get_user_model().objects.filter(pk__in=same))


def address_unconfirmed(user: "User") -> bool:
    """Whether the account's address is the one it was signed up with, its link not followed yet: no password reset
    is mailed to it (accounts.confirmation)."""
    key = folding.email_key(user.email)
    return bool(key) and UnconfirmedAddress.objects.filter(user=user, email_key=key).exists()


def address_lost(user: "User") -> str:
    """The address the account was signed up with, never confirmed, and another account took (accounts.confirmation),
    while the account has none since: what its page tells it ('' otherwise)."""
    if user.email:
        return ""
    return LostAddress.objects.filter(user=user).values_list("email", flat=True).first() or ""


def address_unconfirmed_column() -> Exists:
    """address_unconfirmed for each account row of a query, to annotate it with: a page of accounts (the admin's
    list) is read in one query, not one more per account."""
    return Exists(_marks_of_the_current_address().filter(user=OuterRef("pk")))


def unconfirmed_marks_of(users: "QuerySet[User]") -> QuerySet[UnconfirmedAddress]:
    """The marks of those of `users` whose address is unconfirmed (address_unconfirmed)."""
    return _marks_of_the_current_address().filter(user__in=users.values("pk"))


def _marks_of_the_current_address() -> QuerySet[UnconfirmedAddress]:
    """The marks whose address is still their account's: one left by an address set otherwise (the admin's) is not."""
    folded_as_marked = FoldedNames.objects.filter(user=OuterRef("user"), email_key=OuterRef("email_key"))
    return UnconfirmedAddress.objects.filter(Exists(folded_as_marked))


def unconfirmed_holding(email: str, *, since_before: datetime | None = None) -> QuerySet[UnconfirmedAddress]:
    """The mark of the account that holds `email` without having confirmed it (at most one account holds it),
    if it was given before `since_before`: what the owner of the address may take (accounts.confirmation)."""
    key = folding.email_key(email)  # '' for no address, which no mark has
    holder = FoldedNames.objects.filter(email_key=key).values("user")
    marks = UnconfirmedAddress.objects.filter(email_key=key, user__in=holder)
    return marks if since_before is None else marks.filter(since__lt=since_before)


def users_without_folded_names() -> "QuerySet[User]":
    """Accounts saved without save() (bulk_create, raw SQL): they have no FoldedNames row, so a password reset does
    not find them and their names and address are not taken."""
    return get_user_model().objects.filter(~Exists(FoldedNames.objects.filter(user=OuterRef("pk")))).order_by("pk")
