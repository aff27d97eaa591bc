"""Webhooks: a batch with a callback URL is POSTed a signed summary once it finishes, with retries.

A failed attempt is an INFO line, giving up a WARNING; they name the receiver by its origin alone, as the rest of a
callback URL may hold its owner's token.
"""

import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.services import webhook_secret_for
from bgsite.networks import origin
from removal import fetch, selectors, serializers
from removal.models import Batch, Item, WebhookDelivery
from removal.ops import metrics
from removal.services.files import queued_task
from removal.translated import in_english

logger = logging.getLogger(__name__)
Status = Item.Status


def notify_if_batch_finished(batch: Batch) -> None:
    """Queue the batch's webhook once it has nothing left to do (once per completion)."""
    if not batch.callback_url:  # given when the batch is made, never later: no query for a batch without one
        return
    current = Batch.objects.filter(pk=batch.pk).first()  # which completion this is (`improvements`), as it is now
    if current is None:
        return  # deleted meanwhile
    counts = selectors.batch_counts(current)
    if counts[Status.QUEUED] or counts[Status.PROCESSING]:
        return
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                batch=current, items_total=counts["total"], improvement=current.improvements, url=current.callback_url
            )
            enqueue_webhook(delivery.pk)
    except IntegrityError:
        return  # another worker finished the last item at the same moment and queued it


DELIVER_WEBHOOK_TASK = "removal.tasks.deliver_webhook"
# Below every image's priority (-99..100, removal.services.queueing): deliveries share the workers with cutouts, and
# a receiver may take the whole 10 s of each of its attempts, so they wait while any image is ready. At the default
# 0 they were taken in turn with uploads: eight batches whose receivers stalled held another user's one photo 198 s.
WEBHOOK_PRIORITY = -100


def enqueue_webhook(delivery_id: uuid.UUID, *, delay_seconds: float = 0) -> None:
    task = queued_task(DELIVER_WEBHOOK_TASK, delay_seconds=delay_seconds)
    task.using(priority=WEBHOOK_PRIORITY).enqueue(str(delivery_id))


def webhooks_resume_held() -> int:
    """Queue the deliveries held while their owner's account was inactive, now that it is active again (the reaper,
    as it queues again the account's waiting images); how many. Held, they would never go: their job had ended."""
    held = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.HELD, batch__owner__is_active=True)
    resumed = 0
    for delivery_id in held.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            if WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.HELD).update(
                status=WebhookDelivery.Status.PENDING
            ):
                enqueue_webhook(delivery_id)
                resumed += 1
    if resumed:
        logger.info("queued %d webhook deliveries held while their accounts were inactive", resumed)
    return resumed


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What X-Bgsite-Signature carries: HMAC-SHA256 of "<timestamp>.<body>" with the account's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_deliver(*, delivery_id: str) -> None:
    """POST the batch summary to its callback URL; retry with backoff, then give up."""
    delivery = WebhookDelivery.objects.select_related("batch__owner").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return  # sent or given up already
    if not delivery.batch.owner.is_active:  # deleted (its rows go soon) or deactivated: held until it is active again
        WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.HELD
        )
        return
    values: dict[str, Any] = {}
    try:
        check_callback_url(url=delivery.url)
    except fetch.FetchError as exc:  # stored before the rule was tightened: no attempt would ever send it
        status_code, error, template = None, f"{exc}; not tried again: no request can be sent to it", ""
        unsendable = True
    else:
        status_code, error, template, values = _posted(delivery.url, *_signed_summary(delivery))
        unsendable = False
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status_code, error
    delivery.last_error_template, delivery.last_error_values = template, values
    tried = f"webhook delivery {delivery.pk} of batch {delivery.batch_id} to {_origin(delivery.url)}"
    if not error:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, timezone.now()
    elif unsendable or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    if not _attempt_recorded(delivery):
        logger.info("%s: its batch was deleted during attempt %d", tried, delivery.attempts)
        return
    if delivery.status == WebhookDelivery.Status.FAILED:
        last = "gave up at once" if unsendable else "the last; gave up"
        logger.warning("%s failed at attempt %d, %s: %s", tried, delivery.attempts, last, error)
    elif delivery.status == WebhookDelivery.Status.PENDING:
        delay_seconds = settings.WEBHOOK_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
        logger.info("%s failed at attempt %d; trying again in %g s: %s", tried, delivery.attempts, delay_seconds, error)
        enqueue_webhook(delivery.pk, delay_seconds=delay_seconds)
    metrics.WEBHOOK_DELIVERIES.labels(
        "retrying" if delivery.status == WebhookDelivery.Status.PENDING else delivery.status
    ).inc()


# What an attempt changes in its delivery's row.
ATTEMPT_FIELDS = (
    *("attempts", "status", "delivered_at", "last_status_code"),
    *("last_error", "last_error_template", "last_error_values"),
)


def _attempt_recorded(delivery: WebhookDelivery) -> bool:
    """Save the attempt in its delivery's row; False when the row is gone, its batch deleted while the attempt was
    made. delivery.save() inserted the row again there: a delivery of a batch that no longer exists, which the
    database refused (its foreign key), failing the job with a traceback at ERROR."""
    fields = {name: getattr(delivery, name) for name in ATTEMPT_FIELDS}
    return WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields) == 1


def check_callback_url(*, url: str) -> None:
    """fetch.FetchError when no request can ever be sent to `url` (fetch.check_url: a scheme other than http(s), no
    host, or one no request can name, such as `http://ex ample.com/` or a label IDNA refuses). A batch's callback_url
    is refused with it when the batch is made (removal.web.inputs.callback_url, a 400); a delivery stored before the
    rule was tightened ends failed at its first attempt, where it was tried WEBHOOK_MAX_ATTEMPTS times."""
    fetch.check_url(url, "callback URL")


def _signed_summary(delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    """The body (the batch's summary and its items, as they are now) and headers of one attempt, signed."""
    batch = delivery.batch
    summary = serializers.serialize_batch_summary(batch, selectors.batch_counts(batch))
    items = [
        {key: value for key, value in serializers.serialize_item(item).items() if key in WEBHOOK_ITEM_FIELDS}
        for item in selectors.batch_items(batch)
    ]
    body = json.dumps({"event": "batch.finished", "batch": summary, "items": items}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "bgsite-webhook/1",
        "X-Bgsite-Event": "batch.finished",
        "X-Bgsite-Delivery": str(delivery.pk),
        "X-Bgsite-Timestamp": timestamp,
        "X-Bgsite-Signature": webhook_signature(webhook_secret_for(user=batch.owner), timestamp, body),
    }
    return body, headers


def _posted(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str, dict[str, Any]]:
    """The status code the callback URL answered (None when none came), what went wrong ("" on a 2xx) in English, and
    as a message template and its values for the account page ("" and {} for a refused URL: fetch's words)."""
    import requests  # with the session: loaded by the first delivery, not in every process that imports services

    from removal.fetch_session import SafeSession

    status_code, error, template = None, "", ""
    values: dict[str, Any] = {}
    limits = _webhook_limits()
    with SafeSession(limits) as session:
        try:
            # Its status is all we need: the reply's body is never read (one that never ended filled the worker's
            # memory, 230 MB a second), and the session is cut off after limits.timeout_seconds in all.
            with session.post(url, data=body, headers=headers, timeout=10, allow_redirects=False, stream=True) as reply:
                status_code = reply.status_code
            if not 200 <= status_code < 300:
                template, values = gettext_noop("answered HTTP %(status)s"), {"status": str(status_code)}
        except fetch.FetchError as exc:
            error = str(exc)
        except requests.RequestException as exc:
            if session.watchdog.expired:
                template, values = (
                    gettext_noop("did not answer within %(seconds)g s"),
                    {"seconds": limits.timeout_seconds},
                )
            else:
                template, values = gettext_noop("could not connect (%(kind)s)"), {"kind": exc.__class__.__name__}
    return status_code, in_english(template, values) if template else error, template, values


WEBHOOK_ITEM_FIELDS = {"id", "filename", "status", "result", "error", "cached", "confidence", "needs_review", "quality"}


def _origin(url: str) -> str:
    """scheme://host[:port] of a callback URL, without its user name, password, path and query."""
    try:
        return origin(url)
    except ValueError:
        return "an unreadable URL"


def _webhook_limits() -> fetch.FetchLimits:
    return fetch.FetchLimits(
        max_bytes=1_000_000,
        timeout_seconds=10,
        max_redirects=0,
        allowed_networks=settings.FETCH_ALLOWED_NETWORKS,
    )
