"""API key lifecycle: create (plain key returned once), authenticate, revoke."""

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, WebhookSecret

if TYPE_CHECKING:
    from django.contrib.auth.models import User

KEY_TYPE = "bgs_"
PREFIX_CHARS = 8
# Writing last_used_at on every call would turn each API request into a write;
# a minute's precision is enough for the dashboard.
LAST_USED_PRECISION = timedelta(minutes=1)


class InvalidApiKey(Exception):
    """The key is unknown or malformed."""


class RevokedApiKey(Exception):
    """The key existed but was revoked."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, user: "User", name: str) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is never stored."""
    with transaction.atomic():
        while True:
            prefix = KEY_TYPE + secrets.token_hex(PREFIX_CHARS // 2)
            if not ApiKey.objects.filter(prefix=prefix).exists():
                break
        secret = secrets.token_urlsafe(32)
        key = ApiKey.objects.create(
            user=user, name=name.strip()[:100] or "key", prefix=prefix, secret_hash=_hash(secret)
        )
    return key, f"{prefix}_{secret}"


def api_key_authenticate(raw_key: str) -> ApiKey:
    prefix, secret = _split(raw_key)
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    # Compare even when no row matched, so timing does not reveal valid prefixes.
    expected = key.secret_hash if key else _hash("")
    if not hmac.compare_digest(expected, _hash(secret)) or key is None or not key.user.is_active:
        raise InvalidApiKey("invalid API key")
    if key.revoked_at is not None:
        raise RevokedApiKey("this API key was revoked")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _split(raw_key: str) -> tuple[str, str]:
    """'bgs_1a2b3c4d_<secret>' -> ('bgs_1a2b3c4d', '<secret>')."""
    raw_key = raw_key.strip()
    head = KEY_TYPE + raw_key[len(KEY_TYPE) : len(KEY_TYPE) + PREFIX_CHARS]
    rest = raw_key[len(head) :]
    if not raw_key.startswith(KEY_TYPE) or not rest.startswith("_"):
        return "", ""
    return head, rest[1:]


def api_key_revoke(*, user: "User", key_id: int) -> bool:
    """Revoke one of the user's keys at once; False if there is no such active key."""
    return ApiKey.objects.filter(pk=key_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now()) == 1


def webhook_secret_for(user: "User") -> str:
    """The account's webhook signing secret, made on first use."""
    secret, _ = WebhookSecret.objects.get_or_create(user=user, defaults={"secret": _new_webhook_secret()})
    return secret.secret


def webhook_secret_rotate(*, user: "User") -> str:
    secret, _ = WebhookSecret.objects.update_or_create(user=user, defaults={"secret": _new_webhook_secret()})
    return secret.secret


def _new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
