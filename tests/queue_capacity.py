"""The queue's own capacity on PostgreSQL: items per second through claim -> lease -> record, and its Postgres CPU.

    python -m tests.queue_capacity --items 2000 --threads 8 --step-ms 0

Everything is bgsite's except the model: `services.batch_submit` stores the uploads and
enqueues a job and an item per file in one transaction; `WorkerPool` threads claim a job
(django-tasks-db's locked select), claim its item (the conditional update), renew its
lease while the step runs, save the result to storage and record it under the claim.
The cutout itself is replaced, in this harness process only, by FIXED_COST_STEP: it
takes `--step-ms` (sleeping, so it uses no CPU) and returns a 1x1 PNG. The product
never runs it. Postgres CPU is read from /proc for the backends of this run's own
database (the server runs on this machine), so other databases' work is not counted.
"""

import argparse
import io
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from PIL import Image

from tests.conftest import POSTGRES_ADMIN_URL

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BATCH_SIZE = 500


def fixed_cost_step(step_seconds: float) -> Any:
    """FIXED_COST_STEP: the harness's stand-in for the model, `step_seconds` long, returning a 1x1 PNG."""
    from removal.cutout import pipeline

    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1)).save(buffer, "PNG")
    png = buffer.getvalue()

    def step(item: Any) -> Any:
        time.sleep(step_seconds)
        return pipeline.Cutout(data=png, width=1, height=1, mime_type="image/png", extension="png")

    return step


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


def backends(database_url: str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as db:
        rows = db.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()
    return [row[0] for row in rows]


def distinct_pngs(count: int) -> list[bytes]:
    pngs = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (index % 256, index // 256 % 256, index // 65536)).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs


def measure(database_url: str, *, items: int, threads: int, step_ms: float) -> dict[str, Any]:
    import django
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from removal import services
    from removal.cutout.options import Options
    from removal.models import Item
    from removal.ops.worker import WorkerPool
    from removal.services import processing

    processing._cut_out = fixed_cost_step(step_ms / 1000)  # FIXED_COST_STEP in place of the model
    owner = User.objects.create_user(f"queue-{uuid.uuid4().hex[:6]}")
    pngs = distinct_pngs(items)
    enqueue_started = time.monotonic()
    for start in range(0, items, BATCH_SIZE):
        files = [ContentFile(png, name=f"q{start + i}.png") for i, png in enumerate(pngs[start : start + BATCH_SIZE])]
        services.batch_submit(owner=owner, files=files, options=Options())
    enqueue_seconds = time.monotonic() - enqueue_started

    postgres_before = cpu_seconds(backends(database_url))
    own_before = os.times()
    pool = WorkerPool(threads=threads, name="queue-capacity")
    started = time.monotonic()
    pool.start()
    while Item.objects.filter(status=Item.Status.DONE).count() < items and time.monotonic() - started < 600:
        time.sleep(0.5)
    wall = time.monotonic() - started
    postgres_after = cpu_seconds(backends(database_url))
    own_after = os.times()
    pool.stop()
    finished = sorted(Item.objects.values_list("finished_at", flat=True))
    span = (finished[-1] - finished[0]).total_seconds() if len(finished) > 1 else wall
    done = Item.objects.filter(status=Item.Status.DONE).count()
    postgres_cpu = sum(used - postgres_before.get(pid, 0.0) for pid, used in postgres_after.items())
    harness_cpu = (own_after.user + own_after.system) - (own_before.user + own_before.system)
    return {
        "items": items,
        "done": done,
        "worker_threads": threads,
        "step_ms": step_ms,
        "enqueue_items_per_second": round(items / enqueue_seconds, 1),
        "items_per_second": round((done - 1) / span, 1) if span else 0.0,
        "postgres_cpu_ms_per_item": round(1000 * postgres_cpu / max(done, 1), 2),
        "harness_cpu_ms_per_item": round(1000 * harness_cpu / max(done, 1), 2),
        "cpus": len(os.sched_getaffinity(0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--step-ms", type=float, default=0.0, help="FIXED_COST_STEP's duration per item")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    name = f"bgsite_queue_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    os.environ.update(
        DATABASE_URL=database_url,
        DATA_DIR=tempfile.mkdtemp(prefix="bgsite-queue-"),
        DJANGO_SETTINGS_MODULE="bgsite.settings",
        LOG_LEVEL="WARNING",
        REMBG_MODEL="u2netp",  # the workers load it at start; FIXED_COST_STEP never runs it
    )
    try:
        result = measure(database_url, items=args.items, threads=args.threads, step_ms=args.step_ms)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
