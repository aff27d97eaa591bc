"""What /readyz and GET /api/v1/models say the models run on.

A process with worker threads (EMBEDDED_WORKERS above 0, as `make run`) says what its own threads run them on
(removal.cutout.providers). A web process without them says what the worker processes recorded (WorkerProcess):
asking onnxruntime itself loaded onnxruntime and numpy there for nothing but the answer (0.3 s of CPU, 32 MB in each
web process), and the answer was the web process's own view, where the jobs run on the workers' (another host's, a
GPU's).
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from removal import selectors
from removal.cutout import providers

NO_WORKER: dict[str, Any] = {"providers": [], "layout": None, "max_batch": None}


def models_run_on() -> dict[str, Any]:
    """providers, layout and max_batch: this process's threads', or in a web process without them those of the worker
    processes running the most threads, with `workers`, each kind of worker process seen (workers_seen())."""
    if settings.EMBEDDED_WORKERS > 0:
        return {"providers": providers.active(), **providers.layout().summary()}
    workers = workers_seen()
    most_threads = workers[0] if workers else NO_WORKER
    return {name: most_threads[name] for name in NO_WORKER} | {"workers": workers}


def workers_seen() -> list[dict[str, Any]]:
    """The worker processes seen in the last ITEM_LEASE_SECONDS, one entry for each set of providers, layout and
    max_batch they run the models with, with how many processes and threads do: the most threads first. No host
    names: /readyz and /api/v1/models answer anyone."""
    since = timezone.now() - timedelta(seconds=settings.ITEM_LEASE_SECONDS)
    kinds: dict[tuple[Any, ...], dict[str, Any]] = {}
    for process in selectors.worker_processes_seen(since):
        runs_on = {"providers": list(process.providers), "layout": process.layout, "max_batch": process.max_batch}
        kind = kinds.setdefault(tuple(map(str, runs_on.values())), {**runs_on, "processes": 0, "threads": 0})
        kind["processes"] += 1
        kind["threads"] += process.threads
    return sorted(kinds.values(), key=lambda kind: -kind["threads"])
