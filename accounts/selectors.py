"""Reads for the account pages: API keys, the webhook secret, and whether a username or an e-mail address is taken."""

import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from accounts.models import ApiKey, WebhookSecret

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# What a value outside printable ASCII matches, in every database's regex dialect: SQLite's and MySQL's
# case-insensitive comparisons fold ASCII letters only ("Ö" is not "ö" to `iexact`), so such values are compared here.
BEYOND_ASCII = r"[^ -~]"


def api_keys_for(user: "User") -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def webhook_secret_of(user: "User") -> str | None:
    """The account's webhook signing secret, or None before its first delivery or rotation."""
    return WebhookSecret.objects.filter(user=user).values_list("secret", flat=True).first()


def username_taken(username: str) -> bool:
    """Whether an account's username differs from `username` only in case or width ("ÖMER" and "ömer",
    "straße" and "STRASSE"): two such accounts could pass for each other."""
    return bool(_alike("username", [username], folded=_folded(username), fold=_folded))


def email_taken(email: str, *, but: "User | None" = None) -> bool:
    """Whether an account other than `but` has `email`, whatever its case and however its domain is spelt
    ("x@ÉXAMPLE.com", "x@xn--xample-9ua.com"): a password reset for it would open each of them."""
    return any(user != but for user in accounts_with_email(email))


def accounts_with_email(email: str) -> list["User"]:
    """The accounts whose address is `email` as email_taken compares them (a password reset finds them so)."""
    local, _, domain = email.rpartition("@")
    spellings = [email, f"{local}@{_domain_ascii(domain)}", f"{local}@{_domain_unicode(domain)}"]
    return _alike("email", spellings, folded=_email_folded(email), fold=_email_folded)


def _alike(field: str, spellings: list[str], *, folded: str, fold: Callable[[str], str]) -> list["User"]:
    alike = Q(**{f"{field}__regex": BEYOND_ASCII})
    for spelling in spellings:
        alike |= Q(**{f"{field}__iexact": spelling})
    return [user for user in get_user_model().objects.filter(alike) if fold(getattr(user, field)) == folded]


def _folded(text: str) -> str:
    """Unicode's caseless match of identifiers (NFKC, case folded, NFKC again)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _email_folded(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{_folded(local)}@{_folded(_domain_ascii(domain))}"


def _domain_ascii(domain: str) -> str:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can spell; compared as it is
        return domain


def _domain_unicode(domain: str) -> str:
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain
