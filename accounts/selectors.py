"""Reads for the account pages: API keys, the webhook secret, and whether a username or an e-mail address is taken."""

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet

from accounts import folding
from accounts.models import ApiKey, FoldedNames, WebhookSecret

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_keys_for(user: "User") -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def webhook_secret_of(user: "User") -> str | None:
    """The account's webhook signing secret, or None before its first delivery or rotation."""
    return WebhookSecret.objects.filter(user=user).values_list("secret", flat=True).first()


def username_taken(username: str) -> bool:
    """Whether an account's username differs from `username` only in case or width ("ÖMER" and "ömer",
    "straße" and "STRASSE"): two such accounts could pass for each other."""
    return FoldedNames.objects.filter(username_key=folding.username_key(username)).exists()


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


def users_without_folded_names() -> "QuerySet[User]":
    """Accounts saved without save() (bulk_create, raw SQL): they have no FoldedNames row, so a password reset does
    not find them and their names and address are not taken."""
    return get_user_model().objects.filter(~Exists(FoldedNames.objects.filter(user=OuterRef("pk")))).order_by("pk")
