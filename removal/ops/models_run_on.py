"""What /readyz and GET /api/v1/models say the models run on, and which models a request may name.

A process with worker threads (EMBEDDED_WORKERS above 0, as `make run`) says what its own threads run them on
(removal.cutout.providers). A web process without them says what the worker processes recorded (WorkerProcess):
asking onnxruntime itself loaded onnxruntime and numpy there for nothing but the answer (0.3 s of CPU, 32 MB in each
web process), and the answer was the web process's own view, where the jobs run on the workers' (another host's, a
GPU's). Nor does it need the weights on its own disk: a request may name the models the worker processes have.
"""

from typing import Any

from django.conf import settings

from removal import selectors
from removal.cutout import providers
from removal.cutout.installed import installed_models

NO_WORKER: dict[str, Any] = {"providers": [], "layout": None, "max_batch": None}


def models_run_on() -> dict[str, Any]:
    """providers, layout and max_batch: this process's threads', or in a web process without them those of the worker
    processes running the most threads, with `workers`, each kind of worker process seen (workers_seen())."""
    if settings.EMBEDDED_WORKERS > 0:
        return {"providers": providers.active(), **providers.layout().summary()}
    workers = workers_seen()
    most_threads = workers[0] if workers else NO_WORKER
    return {name: most_threads[name] for name in NO_WORKER} | {"workers": workers}


def models_installed() -> list[str]:
    """The models a request may name: those in this process's U2NET_HOME where its worker threads run them; in a web
    process without them, those every worker process seen has (any of them may be handed the job), or, while none is
    seen, the default model and those in its own U2NET_HOME: the jobs wait for a worker, which warns at its start
    of weights it lacks (removal.W001)."""
    if settings.EMBEDDED_WORKERS > 0:
        return installed_models(settings.U2NET_HOME)
    each_workers = [set(process.models_installed) for process in selectors.worker_processes_live()]
    if each_workers:
        return sorted(set.intersection(*each_workers))
    return sorted({settings.REMBG_MODEL, *installed_models(settings.U2NET_HOME)})


def workers_seen() -> list[dict[str, Any]]:
    """The worker processes seen in the last ITEM_LEASE_SECONDS, one entry for each set of providers, layout and
    max_batch they run the models with, with how many processes and threads do: the most threads first. No host
    names: /readyz and /api/v1/models answer anyone."""
    kinds: dict[tuple[Any, ...], dict[str, Any]] = {}
    for process in selectors.worker_processes_live():
        runs_on = {"providers": list(process.providers), "layout": process.layout, "max_batch": process.max_batch}
        kind = kinds.setdefault(tuple(map(str, runs_on.values())), {**runs_on, "processes": 0, "threads": 0})
        kind["processes"] += 1
        kind["threads"] += process.threads
    return sorted(kinds.values(), key=lambda kind: -kind["threads"])
