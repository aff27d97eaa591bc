"""Admission control for API work: rate limits, the daily quota, and a full queue.

Rate limits use django-ratelimit's counters in Django's cache (per process by
default, Redis when REDIS_URL is set). Every refusal says when to come back:
429 with Retry-After and RateLimit-* headers, or 503 with Retry-After.

The waiting room bounds the synchronous calls (/bgremove, /v1.0/removebg) of one
web process: past MAX_WAITING_CUTOUTS calls waiting for their cutout, the next one
is answered 503 at once, rather than waiting minutes behind the others. The batch
API is not bounded by it: its images wait in the durable queue (MAX_QUEUED_ITEMS).
"""

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from django_ratelimit.core import get_usage

from removal import selectors
from removal.cutout import cores
from removal.cutout.option_parsing import FULL_SIZE, PREVIEW_SIZE
from removal.cutout.options import Options
from removal.errors import QuotaExceeded, ServiceUnavailable, TooManyRequests
from removal.ops import metrics
from removal.translated import in_language

if TYPE_CHECKING:
    from django.contrib.auth.models import User

QUEUE_FULL_RETRY_SECONDS = 5
# A place in the waiting room frees as soon as one cutout ahead is made (well under a second at the
# default MAX_WAITING_CUTOUTS); a little longer spreads the retries of many refused clients.
WAITING_ROOM_RETRY_SECONDS = 2
_waiting_lock = threading.Lock()
_waiting = 0
PREVIEW_CREDITS = 0.25  # a size=preview image; any larger one costs 1, as remove.bg


def check_rate(request: HttpRequest, user: "User") -> dict[str, str]:
    """Count this request against the caller's key and user; the RateLimit-* headers to send.

    A browser session's calls count against its user as a key's do. Raises
    TooManyRequests when either limit is used up.
    """
    api_key = getattr(request, "api_key", None)
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
                RATE_LIMIT_EXCEEDED[scope] % {"rate": rate, "seconds": reset},
                headers={**limit_headers, "Retry-After": str(reset)},
            )
        if tightest is None or remaining < tightest:
            tightest, headers = remaining, limit_headers
    return headers


# The refusals below are in the caller's language where a page reads them (a keyed call is English: accounts.auth).
RATE_LIMIT_EXCEEDED = {
    "key": gettext_lazy("rate limit of %(rate)s per API key exceeded; retry in %(seconds)s s"),
    "user": gettext_lazy("rate limit of %(rate)s per API user exceeded; retry in %(seconds)s s"),
}


def image_credits(options: Options | None) -> float:
    """What one image costs against the daily quota, as remove.bg counts credits."""
    return PREVIEW_CREDITS if options is not None and options.size_preview else 1.0


def auto_size(user: "User", *, images: int) -> str:
    """remove.bg's size=auto, "the highest available resolution, based on image size and available credits", for a
    request of `images` images: the whole images ("full") while the credits left today pay for them all (or there is
    no quota), else previews, which check_daily_quota refuses in turn when even they are not paid for. One size for
    the request (a batch has one), decided here at admission: the options the work is made, charged and reused
    under say which it was."""
    left = credits_left_today(user)
    return FULL_SIZE if left is None or left >= images * image_credits(Options()) else PREVIEW_SIZE


def credits_left_today(user: "User") -> float | None:
    """Credits the user may still spend today (UTC) under DAILY_IMAGE_QUOTA; None without a quota."""
    if settings.DAILY_IMAGE_QUOTA <= 0:
        return None
    images, previews = selectors.images_on(user, _midnight().date())
    return max(0.0, settings.DAILY_IMAGE_QUOTA - credits_used(images, previews))


def _midnight() -> datetime:
    return datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)


def check_daily_quota(user: "User", *, credits: float) -> None:
    """Refuse work that would take the user past DAILY_IMAGE_QUOTA credits today (UTC), before anything is stored;
    services.usage.usage_counted holds the rule again as it counts, for requests that passed here side by side."""
    left = credits_left_today(user)
    if left is not None and credits > left:
        raise quota_exceeded(left=left, credits=credits)


def check_store_room(user: "User", *, size_bytes: int) -> None:
    """Refuse a /store upload that would take what the user kept with /store in the last 24 hours past
    STORE_DAILY_MB: those uploads cost no credits, and each is kept for RETENTION_DAYS."""
    if settings.STORE_DAILY_MB <= 0:
        return
    now, window = timezone.now(), timedelta(days=1)
    kept, first = selectors.stored_since(user, now - window)
    if kept + size_bytes > settings.STORE_DAILY_MB * 1_000_000:
        retry_after = int(((first or now) + window - now).total_seconds()) + 1
        raise QuotaExceeded(
            f"/store keeps at most {settings.STORE_DAILY_MB:,} MB of your uploads a day: {kept / 1e6:,.1f} MB in the "
            "last 24 hours, and this one would pass it; send the image to /bgremove itself instead",
            headers={"Retry-After": str(retry_after)},
        )


def quota_exceeded(*, left: float, credits: float) -> QuotaExceeded:
    retry_after = int((_midnight() + timedelta(days=1) - timezone.now()).total_seconds()) + 1
    message = in_language(
        gettext_noop(
            "daily quota of %(quota)g credits reached (%(left)g left today, %(asked)g asked; an image costs 1, a "
            "preview %(preview)g); it resets at 00:00 UTC"
        ),
        {"quota": settings.DAILY_IMAGE_QUOTA, "left": left, "asked": credits, "preview": PREVIEW_CREDITS},
    )
    return QuotaExceeded(
        message,
        headers={"Retry-After": str(retry_after)},
    )


def credits_used(images: Any, previews: Any) -> Any:
    """What `images` (of which `previews` at size=preview) cost: numbers, or expressions over DailyUsage's fields."""
    return images - previews * (1 - PREVIEW_CREDITS)


def check_queue_room(user: "User") -> None:
    """Refuse new work while the queue is longer than MAX_QUEUED_ITEMS, or the user's part of it longer than
    MAX_QUEUED_ITEMS_PER_USER (one account cannot fill the queue and lock the others out)."""
    check_whole_queue_room(waiting=selectors.queued_count())
    if settings.MAX_QUEUED_ITEMS_PER_USER:  # 0: none
        check_own_queue_room(waiting=selectors.queued_count(user.pk))


def check_whole_queue_room(*, waiting: int) -> None:
    """ServiceUnavailable while `waiting`, the images waiting server-wide, are MAX_QUEUED_ITEMS or more;
    services.queueing.whole_queue_room_held holds it again, under a lock all accounts share, as images are queued."""
    if waiting >= settings.MAX_QUEUED_ITEMS:
        raise ServiceUnavailable(
            gettext("the service is busy: too many images are waiting; try again shortly"),
            headers={"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
        )


def check_own_queue_room(*, waiting: int) -> None:
    """TooManyRequests while `waiting`, an account's images waiting, are MAX_QUEUED_ITEMS_PER_USER or more;
    services.queueing.own_queue_waiting holds the rule again as uploads, reruns and improvements queue, for requests
    that passed check_queue_room side by side."""
    if (limit := settings.MAX_QUEUED_ITEMS_PER_USER) and (mine := waiting) >= limit:
        raise TooManyRequests(
            in_language(
                gettext_noop(
                    "you have %(mine)s images waiting, the most one account may have at once (%(limit)s); "
                    "more are taken as these are done"
                ),
                {"mine": mine, "limit": limit},
            ),
            headers={"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
        )


@contextmanager
def waiting_room(path: str) -> Iterator[None]:
    """A place among this process's synchronous calls for the `with` block, or ServiceUnavailable at once."""
    global _waiting
    with _waiting_lock:
        if _waiting >= settings.MAX_WAITING_CUTOUTS:
            metrics.SYNC_CALLS_REFUSED.labels(path).inc()
            raise ServiceUnavailable(
                f"the service is busy: {_waiting} calls are waiting for their cutout; retry in "
                f"{WAITING_ROOM_RETRY_SECONDS} s, or send many images through the batch API, which queues them",
                headers={"Retry-After": str(WAITING_ROOM_RETRY_SECONDS)},
            )
        _waiting += 1
        metrics.SYNC_CALLS_WAITING.inc()
    try:
        with cores.counted_awaited():  # the model's solo session goes by it
            yield
    finally:
        with _waiting_lock:
            _waiting -= 1
            metrics.SYNC_CALLS_WAITING.dec()


# Progress websockets one user may hold open at once in one web process: a page opens one per batch it shows, the
# client one per batch it follows. Handshakes are rate limited, but a socket stays open: unbounded, one account
# gathered a few hundred more each minute, holding the process's file descriptors and channel-layer groups.
WEBSOCKETS_PER_USER = 32
_open_websockets: Counter[int] = Counter()
_open_websockets_lock = threading.Lock()


def websocket_opened(user_id: int) -> bool:
    """Count one more open socket of the user's; False, counting nothing, when they hold WEBSOCKETS_PER_USER."""
    with _open_websockets_lock:
        if _open_websockets[user_id] >= WEBSOCKETS_PER_USER:
            return False
        _open_websockets[user_id] += 1
        return True


def websocket_closed(user_id: int) -> None:
    with _open_websockets_lock:
        _open_websockets[user_id] -= 1
        if _open_websockets[user_id] <= 0:
            del _open_websockets[user_id]


# JSON or url-encoded bodies past DATA_UPLOAD_MAX_MEMORY_SIZE (remove.bg's base64 images, up to 34 MB) read and
# decoded at once by one web process: each holds about three copies of itself until its image is stored.
LARGE_FIELDS_BODIES_AT_ONCE = 2
_large_fields_bodies = threading.BoundedSemaphore(LARGE_FIELDS_BODIES_AT_ONCE)


def body_past_django_memory(request: HttpRequest) -> bool:
    """Whether the request's body is more than Django reads into memory itself (DATA_UPLOAD_MAX_MEMORY_SIZE): a
    JSON or url-encoded one that size is read whole by removal.web.inputs, where an image may come in a field."""
    return int(request.META.get("CONTENT_LENGTH") or 0) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # bgsite.asgi_handler


class LargeBodyTurn:
    """A turn, among this process's large fields bodies, to read and decode one (`await turn.taken()`), given back
    once its image is stored (`release`, which may be called again); a request with a small or multipart body
    (whose files Django streams to disk) has its turn at once."""

    def __init__(self, request: HttpRequest) -> None:
        self.needed = request.content_type != "multipart/form-data" and body_past_django_memory(request)
        self.held = False

    async def taken(self) -> "LargeBodyTurn":
        if self.needed:
            await sync_to_async(_large_fields_bodies.acquire)()  # the request's own thread waits, not the loop
            self.held = True
        return self

    def release(self) -> None:
        if self.held:
            self.held = False
            _large_fields_bodies.release()


def check_new_work(user: "User", *, images: int, options: Options | None) -> None:
    """The checks for a request that adds `images` images of work with these options."""
    check_queue_room(user)
    check_daily_quota(user, credits=images * image_credits(options))
