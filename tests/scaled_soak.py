"""The soak's scaled phase: many distinct photos through the batch API of web + 2 worker processes.

PostgreSQL, Redis and an S3 server (moto) as in tests/ops/test_scaled.py; one worker is
SIGKILLed once a third of the items are done, and the survivor finishes the batch.
Every item must end done exactly once: done in the database, listed once in the zip's
manifest, its recorded result present in the bucket. Results that a killed worker
saved but never recorded are counted apart (`unrecorded_results`; the purge removes them).
"""

import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.conftest import POSTGRES_ADMIN_URL, REDIS_TEST_URL, REPO, LiveServer, start_s3_server

CHUNK = 50


def _worker(web: LiveServer, name: str) -> subprocess.Popen[bytes]:
    log = (web.data_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--threads", "1"], cwd=REPO, env=web.env, stdout=log, stderr=log
    )


def _upload(web: LiveServer, key: str, photos: Any, count: int, deadline: float) -> tuple[str, int]:
    """Upload `count` photos in chunks, following Retry-After; (batch id, 429/503 replies waited out)."""
    batch_id, sent, waits = "", 0, 0
    while sent < count and time.monotonic() < deadline:
        files = [
            ("files", (f"s{index}.jpg", photos.make(index)[0], "image/jpeg"))
            for index in range(sent, min(count, sent + CHUNK))
        ]
        url = f"{web.url}/api/v1/batches" + (f"/{batch_id}/files" if batch_id else "")
        reply = requests.post(url, headers={"X-Api-Key": key}, files=files, timeout=120)
        if reply.status_code in (429, 503):
            waits += 1
            time.sleep(float(reply.headers.get("Retry-After", "1")))
            continue
        assert reply.ok, f"{reply.status_code} from {url}: {reply.text[:500]}"
        batch_id = reply.json()["id"]
        sent += len(files)
    return batch_id, waits


def _statuses(database_url: str) -> Counter[str]:
    with psycopg.connect(database_url) as db:
        return Counter(dict(db.execute("SELECT status, count(*) FROM removal_item GROUP BY status").fetchall()))


def run_scaled(photos: Any, *, count: int, max_seconds: float) -> dict[str, Any]:
    name = f"bgsite_soak_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    s3, s3_process = start_s3_server("bgsite-soak")
    web = LiveServer(
        data_dir=Path(tempfile.mkdtemp(prefix="bgsite-scaled-soak-")),
        env_overrides={
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_TEST_URL,
            "EMBEDDED_WORKERS": "0",
            "ITEM_LEASE_SECONDS": "5",
            "RATE_LIMITS_ENABLED": "false",
            "MAX_ITEMS_PER_BATCH": str(max(count, 1000)),  # the whole run is one batch
            "SECRET_KEY": "shared-by-every-process-of-this-deployment",
            **s3.env,
        },
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        web.start()
        key = web.create_user("scaled-soak")
        workers = [_worker(web, "worker-1"), _worker(web, "worker-2")]
        started = time.monotonic()
        deadline = started + max_seconds
        batch_id, waits = _upload(web, key, photos, count, deadline)
        killed_at = _kill_one_at_a_third(workers[0], database_url, count, deadline)
        while (
            time.monotonic() < deadline and _statuses(database_url)["done"] + _statuses(database_url)["failed"] < count
        ):
            time.sleep(1)
        seconds = time.monotonic() - started
        return _scaled_report(web, key, s3, batch_id, database_url, count, seconds, waits, killed_at)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
        web.stop()
        s3_process.terminate()
        s3_process.wait(10)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _kill_one_at_a_third(worker: subprocess.Popen[bytes], database_url: str, count: int, deadline: float) -> int:
    """SIGKILL `worker` while it holds an item, once a third of the items are done; the done count then."""
    while time.monotonic() < deadline:
        statuses = _statuses(database_url)
        if statuses["done"] >= count // 3 and statuses["processing"] >= 2:
            break
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    return _statuses(database_url)["done"]


def _scaled_report(
    web: LiveServer,
    key: str,
    s3: Any,
    batch_id: str,
    database_url: str,
    count: int,
    seconds: float,
    waits: int,
    killed_at: int,
) -> dict[str, Any]:
    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT id, status, attempts, result FROM removal_item").fetchall()
    manifest = requests.get(
        f"{web.url}/api/v1/batches/{batch_id}/manifest", headers={"X-Api-Key": key}, timeout=120
    ).json()
    listed = Counter(entry["id"] for entry in manifest["items"])
    stored = {
        obj["Key"]
        for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
        for obj in page.get("Contents", [])
    }
    recorded = {row[3] for row in rows if row[3]}
    cutouts = {name for name in stored if "/cutout-" in name}
    done = [row for row in rows if row[1] == "done"]
    failures = []
    if len(done) != count:
        failures.append(f"{len(done)} of {count} items done")
    if sorted(listed.values()) != [1] * len(rows) or set(listed) != {str(row[0]) for row in rows}:
        failures.append("the manifest does not list every item exactly once")
    if not recorded <= stored:
        failures.append(f"{len(recorded - stored)} recorded results missing from the bucket")
    return {
        "items": count,
        "seconds": round(seconds, 1),
        "items_per_second": round(len(done) / seconds, 2),
        "done": len(done),
        "statuses": dict(Counter(row[1] for row in rows)),
        "attempts": dict(sorted(Counter(row[2] for row in rows).items())),
        "killed_worker_at_done": killed_at,
        "upload_waits": waits,
        "unrecorded_results": len(cutouts - recorded),
        "failures": failures,
    }
