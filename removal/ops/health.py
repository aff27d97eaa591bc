"""Endpoints for load balancers, orchestrators and monitoring.

/healthz and /readyz need no authentication and show no secrets; /metrics needs
METRICS_TOKEN as a bearer token, or a scraper in METRICS_ALLOWED_NETWORKS.
"""

import hmac
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from bgsite.allowed_methods import read_only
from bgsite.networks import client_address, in_networks
from removal.cutout.installed import model_weights
from removal.ops import metrics, worker
from removal.ops.models_run_on import models_run_on

logger = logging.getLogger(__name__)


# A probe's GET changes nothing: another method is a 405 in the probes' JSON (removal.web.error_pages), not the
# probe's answer.
@read_only
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


@read_only
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to take work: the database takes writes, channel layer, storage and model answer, and local storage's
    disk has room for an upload.

    200 when every check passes, else 503; each check reports ok/error and its time. A failed check's reason is
    shown to a caller that may read /metrics; anyone else sees its kind, and the server logs the reason.
    """
    checks = {
        "database": await _timed(sync_to_async(_database)),
        "channel_layer": await _timed(_channel_layer),
        "storage": await _timed(sync_to_async(_storage)),
        "model": await _timed(sync_to_async(_model)),
    }
    if not _may_read_metrics(request):
        _reasons_only_logged(checks)
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


@read_only
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (removal.ops.metrics) for a scraper in METRICS_ALLOWED_NETWORKS or holding
    METRICS_TOKEN; 404 when neither is set."""
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS):
        return HttpResponse(
            "metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS\n", status=404, content_type="text/plain"
        )
    if not _may_read_metrics(request):
        return _metrics_refused()
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


def _may_read_metrics(request: HttpRequest) -> bool:
    """A scraper METRICS_ALLOWED_NETWORKS or METRICS_TOKEN lets in (also shown /readyz's reasons in full)."""
    return _from_allowed_network(request) or _holds_metrics_token(request)


def _from_allowed_network(request: HttpRequest) -> bool:
    address = client_address(request.META.get("REMOTE_ADDR", ""))
    return address is not None and in_networks(address, settings.METRICS_ALLOWED_NETWORKS)


def _holds_metrics_token(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(settings.METRICS_TOKEN)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())
    )


def _metrics_refused() -> HttpResponse:
    """401 with a challenge when a token would let the scraper in; 403 when only its address could."""
    if not settings.METRICS_TOKEN:
        return HttpResponse("metrics are not served to this address\n", status=403, content_type="text/plain")
    reply = HttpResponse("a bearer token is needed\n", status=401, content_type="text/plain")
    reply["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return reply


def _reasons_only_logged(checks: dict[str, dict[str, Any]]) -> None:
    """Each failed check's error cut to its kind, the whole logged: its text may name hosts, users and paths
    (a database's, a bucket's) that are nobody else's business."""
    for name, check in checks.items():
        if "error" in check:
            logger.warning("/readyz: the %s check failed: %s", name, check["error"])
            check["error"] = f"{check['error'].partition(':')[0]} (the reason is in the server's log)"


async def _timed(check: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        detail = await check()
    except Exception as exc:  # a readiness probe reports failures, it does not raise them
        return {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1), **(detail or {})}


class DiskNearlyFull(Exception):
    """The media folder's disk (DATA_DIR's, SQLite's too in the embedded default) has less room than one upload."""


def _room_for_an_upload(folder: Path) -> dict[str, int]:
    """The free space of `folder`'s disk; DiskNearlyFull below MAX_UPLOAD_BYTES. A full disk refuses every upload
    (503) and every item's result (the workers wait) while SELECT 1 and a file's exists() still answer."""
    free = shutil.disk_usage(next(path for path in (folder, *folder.parents) if path.exists())).free  # made later
    if free < settings.MAX_UPLOAD_BYTES:
        one_upload = f"{settings.MAX_UPLOAD_BYTES / 1e6:g} MB"
        raise DiskNearlyFull(f"{free / 1e6:.1f} MB free on the disk of {folder}, less than one upload ({one_upload})")
    return {"free_mb": free // 1_000_000}


def _database() -> None:
    """A write that changes no row, which a database that takes none refuses all the same (SQLite: "attempt to write
    a readonly database"; PostgreSQL: "cannot execute UPDATE in a read-only transaction") and costs nothing else. A
    SELECT 1 answered from an SQLite file made read-only (its disk remounted, the file made immutable) and from a
    PostgreSQL standby or one set to default_transaction_read_only, while every upload and job failed. On SQLite it
    waits, as any write does, for a write under way to end."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE django_migrations SET app = app WHERE 1 = 0")


async def _channel_layer() -> dict[str, str]:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    await layer.group_send("readyz", {"type": "readyz.probe"})
    return {"backend": layer.__class__.__name__}


def _storage() -> dict[str, Any]:
    default_storage.exists("readyz-probe")
    backend: dict[str, Any] = {"backend": default_storage.__class__.__name__}
    if isinstance(default_storage, FileSystemStorage):
        return {**backend, **_room_for_an_upload(Path(default_storage.location))}
    return backend


def _model() -> dict[str, Any]:
    """The default model's weights where this process runs the models; a web process without worker threads
    (EMBEDDED_WORKERS=0) runs none, and needs none on its disk (its image may hold none): it says which worker
    processes have reported (`workers`), as information, not as a failure that would take it out of a load balancer
    while its uploads can queue for the workers."""
    if settings.EMBEDDED_WORKERS > 0 and model_weights(settings.U2NET_HOME, settings.REMBG_MODEL) is None:
        weights = settings.U2NET_HOME / f"{settings.REMBG_MODEL}.onnx"
        raise FileNotFoundError(f"{weights} is missing; run `make setup`")
    return {
        "name": settings.REMBG_MODEL,
        **models_run_on(),
        "workers_in_this_process": worker.live_worker_threads(),
    }
