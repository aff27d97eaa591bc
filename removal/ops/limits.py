"""Admission control for API work: rate limits, the daily quota, and a full queue.

Rate limits use django-ratelimit's counters in Django's cache (per process by
default, Redis when REDIS_URL is set). Every refusal says when to come back:
429 with Retry-After and RateLimit-* headers, or 503 with Retry-After.
"""

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django_ratelimit.core import get_usage

from removal import selectors
from removal.cutout.options import Options
from removal.errors import QuotaExceeded, ServiceUnavailable, TooManyRequests

if TYPE_CHECKING:
    from django.contrib.auth.models import User

QUEUE_FULL_RETRY_SECONDS = 5
PREVIEW_CREDITS = 0.25  # a size=preview image; any larger one costs 1, as remove.bg


def check_rate(request: HttpRequest, user: "User") -> dict[str, str]:
    """Count this request against the caller's key and user; the RateLimit-* headers to send.

    Raises TooManyRequests when either limit is used up.
    """
    api_key = getattr(request, "api_key", None)
    if api_key is None and request.method in ("GET", "HEAD", "OPTIONS"):
        # A signed-in page loads a preview per image; only its uploads count.
        return {}
    scopes = [("user", str(user.pk), settings.RATE_LIMIT_PER_USER)]
    if api_key is not None:
        scopes.insert(0, ("key", api_key.prefix, settings.RATE_LIMIT_PER_KEY))
    headers: dict[str, str] = {}
    tightest: int | None = None
    for scope, identity, rate in scopes:
        usage = get_usage(
            request,
            group=f"bgsite.api.{scope}",
            key=lambda group, request, value=identity: value,
            rate=rate,
            increment=True,
        )
        if usage is None:  # rate limiting disabled, or the cache is unavailable (fail open)
            continue
        remaining = max(0, usage["limit"] - usage["count"])
        reset = max(1, usage["time_left"])
        limit_headers = {
            "RateLimit-Limit": str(usage["limit"]),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
        }
        if usage["should_limit"]:
            raise TooManyRequests(
                f"rate limit of {rate} per API {scope} exceeded; retry in {reset} s",
                headers={**limit_headers, "Retry-After": str(reset)},
            )
        if tightest is None or remaining < tightest:
            tightest, headers = remaining, limit_headers
    return headers


def image_credits(options: Options | None) -> float:
    """What one image costs against the daily quota, as remove.bg counts credits."""
    return PREVIEW_CREDITS if options is not None and options.size_preview else 1.0


def credits_left_today(user: "User") -> float | None:
    """Credits the user may still spend today (UTC) under DAILY_IMAGE_QUOTA; None without a quota."""
    if settings.DAILY_IMAGE_QUOTA <= 0:
        return None
    images, previews = selectors.images_since(user, _midnight())
    used = images - previews + previews * PREVIEW_CREDITS
    return max(0.0, settings.DAILY_IMAGE_QUOTA - used)


def _midnight() -> datetime:
    return datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)


def check_daily_quota(user: "User", *, credits: float) -> None:
    """Refuse work that would take the user past DAILY_IMAGE_QUOTA credits today (UTC)."""
    left = credits_left_today(user)
    if left is None:
        return
    quota = settings.DAILY_IMAGE_QUOTA
    if credits > left:
        retry_after = int((_midnight() + timedelta(days=1) - timezone.now()).total_seconds()) + 1
        raise QuotaExceeded(
            f"daily quota of {quota} credits reached ({left:g} left today, {credits:g} asked; an image costs 1, "
            f"a preview {PREVIEW_CREDITS:g}); it resets at 00:00 UTC",
            headers={"Retry-After": str(retry_after)},
        )


def check_queue_room() -> None:
    """Refuse new work while the queue is longer than MAX_QUEUED_ITEMS."""
    if selectors.queued_count() >= settings.MAX_QUEUED_ITEMS:
        raise ServiceUnavailable(
            "the service is busy: too many images are waiting; try again shortly",
            headers={"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
        )


def check_new_work(user: "User", *, images: int, options: Options | None) -> None:
    """The checks for a request that adds `images` images of work with these options."""
    check_queue_room()
    check_daily_quota(user, credits=images * image_credits(options))
