"""The metrics themselves, prometheus-client's, and the /metrics text: loaded with the first metric recorded or
scraped, through removal.ops.metrics (which says what they are)."""

import atexit
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from removal.cutout import results
from removal.models import Batch, Item

ITEMS_PROCESSED = Counter("bgsite_items_processed", "Cutouts made, by model.", ["model"])
ITEMS_FAILED = Counter("bgsite_items_failed", "Items that ended failed, by model.", ["model"])
PROCESSING_SECONDS = Histogram(
    "bgsite_processing_seconds",
    "Time to make one cutout (model, compose, encode), by model.",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
CUTOUT_CONFIDENCE = Histogram(
    "bgsite_cutout_confidence",
    "How sure the model is of each cutout made (0-1, removal.cutout.confidence), by model.",
    ["model"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
CUTOUTS_FLAGGED = Counter(
    "bgsite_cutouts_flagged",
    "Cutouts made less sure than REVIEW_CONFIDENCE_BELOW (flagged for a person's look), by model.",
    ["model"],
)
WEBHOOK_DELIVERIES = Counter(
    "bgsite_webhook_deliveries", "Webhook delivery attempts, by outcome (delivered, retrying, failed).", ["outcome"]
)
SYNC_CALLS_WAITING = Gauge(
    "bgsite_sync_calls_waiting",
    "/bgremove and /v1.0/removebg calls waiting for their cutout (MAX_WAITING_CUTOUTS per web process).",
    multiprocess_mode="livesum",
)
SYNC_CALLS_REFUSED = Counter(
    "bgsite_sync_calls_refused",
    "/bgremove and /v1.0/removebg calls answered 503 at once because MAX_WAITING_CUTOUTS were waiting, by path.",
    ["path"],
)
WEBSOCKET_CONNECTIONS = Gauge("bgsite_websocket_connections", "Open progress websockets.", multiprocess_mode="livesum")
WORKER_THREADS = Gauge(
    "bgsite_worker_threads",
    "Worker threads running, per process (label pid when multi-process).",
    multiprocess_mode="liveall",
)


class QueueCollector(Collector):
    """Items queued and processing by batch kind, and the oldest queued item's age, from the database."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = Item.objects.filter(status__in=(Item.Status.QUEUED, Item.Status.PROCESSING))
        counts = {
            (row["status"], row["batch__kind"]): row["n"]
            for row in waiting.values("status", "batch__kind").annotate(n=Count("id")).order_by()
        }
        for status, name, text in (
            (Item.Status.QUEUED, "bgsite_items_queued", "Items waiting for a worker, by batch kind."),
            (Item.Status.PROCESSING, "bgsite_items_processing", "Items a worker is processing, by batch kind."),
        ):
            family = GaugeMetricFamily(name, text, labels=["kind"])
            for kind in Batch.Kind.values:
                family.add_metric([kind], counts.get((status, kind), 0))
            yield family
        oldest = Item.objects.filter(status=Item.Status.QUEUED).aggregate(oldest=Min("queued_at"))["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "bgsite_queue_oldest_age_seconds", "How long the oldest queued item has waited (0 when none).", value=age
        )


def exposition() -> tuple[bytes, str]:
    """The text a scrape returns, and its content type."""
    queue = CollectorRegistry()
    queue.register(QueueCollector())
    if settings.PROMETHEUS_MULTIPROC_DIR:
        events = CollectorRegistry()
        multiprocess.MultiProcessCollector(events, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        events = REGISTRY
    return generate_latest(events) + generate_latest(queue), CONTENT_TYPE_LATEST


def item_finished(*, status: str, model: str, seconds: float | None = None, confidence: float | None = None) -> None:
    if status == Item.Status.DONE:
        ITEMS_PROCESSED.labels(model).inc()
        if seconds is not None:
            PROCESSING_SECONDS.labels(model).observe(seconds)
        if confidence is not None:
            CUTOUT_CONFIDENCE.labels(model).observe(confidence)
            if results.needs_review(confidence, settings.REVIEW_CONFIDENCE_BELOW):
                CUTOUTS_FLAGGED.labels(model).inc()
    else:
        ITEMS_FAILED.labels(model).inc()


def process_exited(**kwargs: Any) -> None:
    """Drop this process's live gauges from the shared folder (a process ending)."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        multiprocess.mark_process_dead(os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)


# Any process that made its metrics and exits (a web process stopped, a one-off manage.py command that counted) takes
# its live gauges with it: they were left behind, one series more with every run, until the folder was emptied. A
# killed one's stay. A process that never loaded this module made none.
atexit.register(process_exited)
