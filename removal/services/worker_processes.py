"""The record of each process's worker threads (WorkerProcess): what they run the models on, renewed while they live,
so that a web process without worker threads can report it without loading onnxruntime."""

import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from removal.models import WorkerProcess


def worker_process_seen(
    *,
    name: str,
    threads: int,
    providers: list[str],
    layout: str,
    max_batch: int,
    models: list[str],
    weights_sha256: dict[str, str] | None = None,
) -> None:
    """`name`'s worker threads live and run `models` (those installed where it runs) on `providers` as `layout` says,
    the weights whose SHA-256 `weights_sha256` gives by model; those of processes not seen for ITEM_LEASE_SECONDS
    (killed, their machine gone) are forgotten."""
    now = timezone.now()
    with transaction.atomic():
        WorkerProcess.objects.update_or_create(
            name=name,
            defaults={
                "host": socket.gethostname(),
                "threads": threads,
                "providers": providers,
                "layout": layout,
                "max_batch": max_batch,
                "models_installed": models,
                "weights_sha256": weights_sha256 or {},
                "seen_at": now,
            },
        )
        WorkerProcess.objects.filter(seen_at__lt=now - timedelta(seconds=settings.ITEM_LEASE_SECONDS)).delete()


def worker_process_gone(*, name: str) -> None:
    """`name` stopped its worker threads."""
    WorkerProcess.objects.filter(name=name).delete()
