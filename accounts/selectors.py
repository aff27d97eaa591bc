"""Reads for the account pages: API keys and the webhook secret."""

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from accounts.models import ApiKey, WebhookSecret

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def api_keys_for(user: "User") -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")


def webhook_secret_of(user: "User") -> str | None:
    """The account's webhook signing secret, or None before its first delivery or rotation."""
    return WebhookSecret.objects.filter(user=user).values_list("secret", flat=True).first()
