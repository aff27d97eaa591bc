"""Prometheus metrics: what operators watch, alert on and autoscale workers by (docs/deploy.md).

Two sources. Queue figures (items waiting and running, the oldest one's age)
are read from the database at scrape time, so they are right however many
processes share the queue. Events (cutouts made, failures, processing time,
webhook deliveries) and per-process figures (websocket connections, worker
threads) are prometheus-client metrics of the process where they happen; with
PROMETHEUS_MULTIPROC_DIR set, every process of the host writes them there and
a scrape adds them up.

Every process imports the services and views that record them, and most record nothing (manage.py commands, their
system checks included). So the metrics are made, and prometheus-client loaded (30 ms of CPU), at the first name read
from this module (PEP 562), in removal.ops.prometheus_metrics: a server with worker threads reads one as it starts.
"""

from typing import TYPE_CHECKING

from removal.cutout import first_use

if TYPE_CHECKING:  # the names below, for type checkers; at run time __getattr__ serves them
    from removal.ops.prometheus_metrics import (
        CUTOUT_CONFIDENCE,
        CUTOUTS_FLAGGED,
        ITEMS_FAILED,
        ITEMS_PROCESSED,
        PROCESSING_SECONDS,
        SYNC_CALLS_REFUSED,
        SYNC_CALLS_WAITING,
        WEBHOOK_DELIVERIES,
        WEBSOCKET_CONNECTIONS,
        WORKER_THREADS,
        QueueCollector,
        exposition,
        item_finished,
        process_exited,
    )

LOADED_AT_FIRST_USE = "removal.ops.prometheus_metrics"
__all__ = [
    "CUTOUTS_FLAGGED",
    "CUTOUT_CONFIDENCE",
    "ITEMS_FAILED",
    "ITEMS_PROCESSED",
    "PROCESSING_SECONDS",
    "SYNC_CALLS_REFUSED",
    "SYNC_CALLS_WAITING",
    "WEBHOOK_DELIVERIES",
    "WEBSOCKET_CONNECTIONS",
    "WORKER_THREADS",
    "QueueCollector",
    "exposition",
    "item_finished",
    "process_exited",
]


__getattr__ = first_use.loader(globals(), dict.fromkeys(__all__, LOADED_AT_FIRST_USE))


def __dir__() -> list[str]:
    return sorted(__all__)
