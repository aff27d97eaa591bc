"""Live, scaled topology as separate OS processes: 1 web + 2 workers on PostgreSQL, Redis and S3.

The same commands the Dockerfile and compose.yaml run: uvicorn with
EMBEDDED_WORKERS=0, and `manage.py runworker`. One worker is SIGKILLed
mid-batch while it holds an item, and a second worker finishes the batch; every
item must still be recorded exactly once and the zip must be whole.
"""

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from websockets.sync.client import connect

from tests.conftest import (
    MIGRATED_POSTGRES_DATABASES,
    REPO,
    LiveServer,
    S3Server,
    frozen_when,
    mid_batch,
    models_run_on,
    new_postgres_database,
    photo_bytes,
)

pytestmark = pytest.mark.live

PHOTOS = 8


def start_worker(web: LiveServer, name: str) -> subprocess.Popen[str]:
    log = (web.data_dir / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--threads", "1"],
        cwd=REPO,
        env=web.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def item_rows(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url) as db, db.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute("SELECT id, filename, status, attempts, result, finished_at, claim_token FROM removal_item")
        return {row["filename"]: row for row in cursor.fetchall()}


def database_sessions(database_url: str) -> int:
    """Sessions open on the database, this one left out."""
    with psycopg.connect(database_url) as db:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        row = db.execute(query).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def web_on_postgres(server_factory: Any, postgres_admin: Any, postgres_migrated_template: str) -> Iterator[LiveServer]:
    """One web process (no workers) on a PostgreSQL database of its own, shared by the tests that only call it and
    count what its connections do meanwhile; its database_url in `.env`."""
    with new_postgres_database(postgres_admin, template=postgres_migrated_template) as url:
        MIGRATED_POSTGRES_DATABASES.add(urlsplit(url).path.lstrip("/"))
        web = server_factory(DATABASE_URL=url, EMBEDDED_WORKERS="0", SECRET_KEY="one-web-process-on-postgres")
        web.start()
        yield web
        web.stop()  # before its database goes


def test_the_web_process_gives_each_requests_database_connection_back(server_factory: Any, postgres_url: str) -> None:
    """Under uvicorn every request runs in a thread of its own: a connection kept after it is never used
    again. With connections kept (CONN_MAX_AGE 60), 32 clients at once piled them up until PostgreSQL
    refused more, and the API answered 500."""
    web = server_factory(DATABASE_URL=postgres_url, EMBEDDED_WORKERS="0", SECRET_KEY="one-web-process-on-postgres")
    web.start()
    keys = [web.create_user(f"reader{index}") for index in range(2)]  # each under its rate limit

    def read(index: int) -> int:
        headers = {"X-Api-Key": keys[index % len(keys)]}
        return requests.get(f"{web.url}/api/v1/batches", headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=32) as clients:
        statuses = list(clients.map(read, range(160)))
    assert statuses == [200] * len(statuses), web.log()[-3000:]
    # The requests' connections are closed (the server's own at most remain): each once its reply is sent, which
    # under load lags the client's read of it by a moment. Kept connections would stay, 32 of them.
    deadline = time.monotonic() + 5
    while (sessions := database_sessions(postgres_url)) > 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions <= 2


def test_a_nul_in_a_key_or_a_parameter_is_a_4xx_on_postgresql(web_on_postgres: LiveServer) -> None:
    """PostgreSQL's text columns refuse NUL (SQLite stores it): a key or a stored parameter holding one was a 500."""
    web = web_on_postgres
    key = web.create_user("nul")
    logged_before = len(web.log())
    nul_key = requests.get(f"{web.url}/api/v1/batches", params={"key": "bgs_\x00abcdefg_x"}, timeout=30)
    photo = {"files": ("a.jpg", photo_bytes(size=(64, 48)), "image/jpeg")}
    nul_url = requests.post(
        f"{web.url}/api/v1/batches",
        files=photo,
        data={"callback_url": "https://example.com/\x00"},
        headers={"X-Api-Key": key},
        timeout=30,
    )
    assert (nul_key.status_code, nul_url.status_code) == (401, 400), (nul_key.text, nul_url.text)
    web.shell(
        "from django.contrib.auth.models import User; User.objects.filter(username='nul').update(is_staff=True, "
        "is_superuser=True)"
    )
    staff = web.signed_in("nul")
    searched = [
        staff.get(f"{web.url}/admin/{table}/", params={"q": "a\x00b"}, timeout=30, allow_redirects=False).status_code
        for table in ("removal/item", "removal/batch", "removal/storedimage", "removal/webhookdelivery", "auth/user")
    ]
    assert searched == [200] * 5
    assert "Traceback" not in web.log()[logged_before:], web.log()[logged_before:]


def test_calls_go_on_after_the_database_drops_every_connection(
    server_factory: Any, postgres_url: str, postgres_admin: Any
) -> None:
    """A restart or an idle timeout drops the server's connections. The threads that outlive a request (the
    workers, and the ones that read for waiting /bgremove calls) connect again instead of failing from then on
    (they answered 503 to every call after it)."""
    web = server_factory(DATABASE_URL=postgres_url, EMBEDDED_WORKERS="2", SECRET_KEY="one-process-on-postgres")
    web.start()
    key = web.create_user("caller")

    def cut_out(width: int) -> int:  # a photo of its own each time: none is answered from an earlier result
        photo = photo_bytes("coffee.png", size=(width, 240))
        files = {"file": ("photo.jpg", photo, "image/jpeg")}
        reply = requests.post(f"{web.url}/bgremove", headers={"X-Api-Key": key}, files=files, timeout=120)
        return reply.status_code

    assert [cut_out(320 + index) for index in range(3)] == [200] * 3
    database = urlsplit(postgres_url).path.lstrip("/")
    dropped = postgres_admin.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [database],
    ).fetchone()
    assert dropped is not None and dropped[0] >= 2  # the workers' and the waiting calls' reader's at least
    assert [cut_out(340 + index) for index in range(6)] == [200] * 6, web.log()[-3000:]


def test_a_database_that_refuses_connections_gets_503_with_retry_after_never_500(
    server_factory: Any, limited_postgres_url: str
) -> None:
    web = server_factory(DATABASE_URL=limited_postgres_url, EMBEDDED_WORKERS="0", SECRET_KEY="one-web-process")
    web.start()
    keys = [web.create_user(f"reader{index}") for index in range(2)]

    def read(index: int) -> requests.Response:
        headers = {"X-Api-Key": keys[index % len(keys)]}
        return requests.get(f"{web.url}/api/v1/batches", headers=headers, timeout=60)

    try:
        with ThreadPoolExecutor(max_workers=16) as clients:
            replies = list(clients.map(read, range(48)))
    finally:
        web.stop()  # before the role goes
    assert {reply.status_code for reply in replies} == {200, 503}, web.log()[-3000:]
    refused = next(reply for reply in replies if reply.status_code == 503)
    assert refused.headers["Retry-After"] == "5"
    error = "the database is busy or unreachable; try again in a few seconds"
    assert refused.json() == {"status": 503, "error": error, "request_id": refused.headers["X-Request-ID"]}


def test_scaled_topology_survives_a_killed_worker(
    server_factory: Any, postgres_url: str, redis_url: str, s3_server: S3Server
) -> None:
    web = server_factory(
        DATABASE_URL=postgres_url,
        REDIS_URL=redis_url,
        EMBEDDED_WORKERS="0",
        ITEM_LEASE_SECONDS="3",
        SECRET_KEY="shared-by-every-process-of-this-deployment",
        **s3_server.env,
    )
    web.start()
    key = web.create_user("scaled")
    photo = photo_bytes("coffee.png", size=(1280, 960))
    files = [("files", (f"p{index}.jpg", photo, "image/jpeg")) for index in range(PHOTOS)]
    reply = requests.post(f"{web.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=60)
    assert reply.status_code == 201, reply.text  # not a KeyError in the follower thread
    batch = reply.json()

    # Follow the batch over the websocket; events come from the workers through Redis.
    events: list[dict[str, Any]] = []
    finished = threading.Event()

    def follow() -> None:
        with connect(f"{web.ws_url}{batch['ws']}", additional_headers={"X-Api-Key": key}) as socket:
            while not finished.is_set():
                try:
                    event = json.loads(socket.recv(timeout=120))
                except TimeoutError:
                    return
                events.append(event)
                if event["batch"]["status"] == "done":
                    finished.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()

    # The doomed worker runs alone until it holds an item with others still waiting, and is frozen
    # there: the rows read then are exactly what it leaves behind (killed between two items, or
    # after the last, it would prove nothing).
    doomed, survivor = start_worker(web, "worker-1"), None
    try:
        at_kill = frozen_when(doomed, lambda: item_rows(postgres_url), mid_batch)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        orphans = {name for name, row in at_kill.items() if row["status"] == "processing"}
        assert len(orphans) == 1  # --threads 1: one item at a time
        survivor = start_worker(web, "worker-2")

        assert finished.wait(180), f"batch not finished; events: {len(events)}\n{web.log()}"
    finally:
        for worker in (doomed, survivor):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(60)
    assert survivor.returncode == 0

    after = item_rows(postgres_url)
    assert {row["status"] for row in after.values()} == {"done"}
    for name, row in at_kill.items():
        if row["status"] == "done":
            assert after[name]["result"] == row["result"] and after[name]["finished_at"] == row["finished_at"]
    # The killed worker's item was claimed twice in all (once by each worker); everything else once.
    assert {name: row["attempts"] for name, row in after.items()} == {
        name: 2 if name in orphans else 1 for name in after
    }

    assert events[0]["event"] == "snapshot"
    assert events[-1]["batch"]["counts"]["done"] == PHOTOS
    seen_done = {event["item"]["id"] for event in events[1:] if event["item"]["status"] == "done"}
    snapshot_done = {item["id"] for item in events[0]["batch"]["items"] if item["status"] == "done"}
    assert seen_done | snapshot_done == {item["id"] for item in batch["items"]}

    download = requests.get(f"{web.url}{batch['zip']}", headers={"X-Api-Key": key}, timeout=60)
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.namelist()[-1] == "manifest.json"
        assert sorted(archive.namelist()[:-1]) == sorted(f"p{index}.png" for index in range(PHOTOS))
        assert archive.testzip() is None
    cutouts = [
        entry["Key"]
        for entry in s3_server.client().list_objects_v2(Bucket=s3_server.bucket).get("Contents", [])
        if "/cutout-" in entry["Key"] and batch["id"] in entry["Key"] and not entry["Key"].endswith("-thumbnail.webp")
    ]
    # Recorded results are exactly the zip's; a killed worker may leave one unrecorded extra object at most.
    assert PHOTOS <= len(cutouts) <= PHOTOS + 1

    ready = requests.get(f"{web.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["channel_layer"]["backend"] == "RedisChannelLayer"
    assert checks["storage"]["backend"] == "LinkingS3Storage"
    assert checks["model"]["workers_in_this_process"] == 0
    web.stop()


def worker_records(database_url: str) -> list[str]:
    """The names of the worker processes recorded (WorkerProcess), dead ones not yet forgotten included."""
    with psycopg.connect(database_url) as db:
        return [name for (name,) in db.execute("SELECT name FROM removal_workerprocess ORDER BY name").fetchall()]


def test_the_web_process_reports_the_live_worker_processes_on_postgresql(web_on_postgres: LiveServer) -> None:
    """A web process without workers says what the worker processes run the models on, from their records: one that
    stops deletes its own, one killed is no longer reported once ITEM_LEASE_SECONDS have passed since it renewed it
    (its record aged here), and the next worker's reaper deletes it."""
    web, postgres_url = web_on_postgres, web_on_postgres.env["DATABASE_URL"]
    cpu = ["CPUExecutionProvider"]
    one_thread = {"providers": cpu, "layout": "per-thread", "max_batch": 1, "processes": 1, "threads": 1}
    live = [cpu, "per-thread", 1, [one_thread]]
    nobody = [[], None, None, []]

    def seen(expected: list[Any]) -> bool:
        """Whether the web process says `expected` once the worker has started (Django, the model: a while on a busy
        machine), polling /readyz alone: the worker may record itself between the two requests of models_run_on."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            model_check = requests.get(f"{web.url}/readyz", timeout=30).json()["checks"]["model"]
            if [model_check[name] for name in ("providers", "layout", "max_batch", "workers")] == expected:
                break
            time.sleep(0.2)
        return models_run_on(web.url) == expected

    killed = start_worker(web, "killed-worker")
    try:
        assert seen(live), web.log()[-3000:]
        (killed_record,) = worker_records(postgres_url)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
    assert models_run_on(web.url) == live  # renewed moments ago
    with psycopg.connect(postgres_url) as db:
        db.execute("UPDATE removal_workerprocess SET seen_at = seen_at - interval '1 hour'")
    assert models_run_on(web.url) == nobody
    stopped = start_worker(web, "stopped-worker")
    try:
        assert seen(live)
        assert killed_record not in worker_records(postgres_url)
    finally:
        stopped.send_signal(signal.SIGTERM)
        stopped.wait(60)
    assert stopped.returncode == 0
    assert (models_run_on(web.url), worker_records(postgres_url)) == (nobody, [])


def sessions_opened(database_url: str) -> int:
    """Sessions ever opened on the test's database (PostgreSQL counts them since it started)."""
    with psycopg.connect(database_url) as db:
        row = db.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


def test_a_large_uploads_caller_is_looked_up_on_a_kept_connection(web_on_postgres: LiveServer) -> None:
    """Before a batch upload larger than anyone's may be is read, its caller is looked up (BodySizeLimit), outside
    Django's request cycle: channels' database_sync_to_async opened and closed a PostgreSQL session for each."""
    web, postgres_url = web_on_postgres, web_on_postgres.env["DATABASE_URL"]
    address = urlsplit(web.url)

    def stranger_upload() -> int:
        """A batch upload stating a gigabyte, under a key no account has: refused unread, Django never sees it."""
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
        connection.putrequest("POST", "/api/v1/batches")
        headers = {
            "X-Api-Key": "bgs_00000000_unknown",
            "Content-Length": str(10**9),
            "Content-Type": "multipart/form-data",
        }
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        status = connection.getresponse().status
        connection.close()
        return status

    assert stranger_upload() == 401
    before = sessions_opened(postgres_url)
    assert {stranger_upload() for _ in range(40)} == {401}
    # At most one for each thread of the loop's pool, the first time it reads, and this test's own (before: 40).
    assert sessions_opened(postgres_url) - before <= min(32, (os.cpu_count() or 1) + 4) + 1


def test_websockets_read_the_database_on_kept_connections(web_on_postgres: LiveServer) -> None:
    """A websocket's reads (its caller, its batch, the snapshot, the key checked again as events come) ran on a
    connection opened and closed for each: three PostgreSQL sessions per handshake (26 ms a handshake, 18 ms
    without them), a fourth for a page's (channels' AuthMiddlewareStack reading the session's user), and one a
    second for every socket following a busy batch. They use the server's kept ones."""
    web, postgres_url = web_on_postgres, web_on_postgres.env["DATABASE_URL"]
    key = web.create_user("follower")
    browser = web.signed_in("follower")
    batch = requests.post(
        f"{web.url}/api/v1/batches",
        headers={"X-Api-Key": key},
        files={"files": ("a.jpg", photo_bytes(size=(64, 48)))},
        timeout=30,
    ).json()
    page = {"Cookie": "; ".join(f"{name}={value}" for name, value in browser.cookies.items()), "Origin": web.url}

    def handshake(headers: dict[str, str]) -> None:
        with connect(f"{web.ws_url}{batch['ws']}", additional_headers=headers) as socket:
            assert json.loads(socket.recv(timeout=30))["event"] == "snapshot"

    handshake({"X-Api-Key": key})
    before = sessions_opened(postgres_url)
    for _ in range(40):
        handshake({"X-Api-Key": key})
        handshake(page)
    # At most one for each thread of the loop's pool (Python's default size), the first time it reads, and this
    # test's own; one per page's handshake would be 40 (before: four per page's handshake, three per key's).
    assert sessions_opened(postgres_url) - before <= min(32, (os.cpu_count() or 1) + 4) + 1


def test_a_waiting_call_whose_connection_died_gets_its_cutout_not_a_503(
    server_factory: Any, postgres_url: str, postgres_admin: Any
) -> None:
    """The database drops every connection while a /bgremove call waits for its worker: the call's image is accepted
    and counted already. Its reply was read on the request's dead connection and answered 503 "try again", and a
    caller that did so was counted twice for one cutout."""
    web = server_factory(DATABASE_URL=postgres_url, EMBEDDED_WORKERS="0", SECRET_KEY="waiting-call-on-postgres")
    web.start()
    key = web.create_user("waiter")
    photo = {"file": ("photo.jpg", photo_bytes("coffee.png", size=(160, 120)), "image/jpeg")}
    replies: list[requests.Response] = []
    call = threading.Thread(
        target=lambda: replies.append(
            requests.post(f"{web.url}/bgremove", headers={"X-Api-Key": key}, files=photo, timeout=120)
        )
    )
    call.start()
    while not item_rows(postgres_url):  # accepted; no worker runs yet, so it waits
        time.sleep(0.05)
    # The row is committed before the call's last steps of accepting it (its job announced, its reply prepared): the
    # connections are killed once it is in its wait, which is what this test is about.
    time.sleep(0.5)
    database = urlsplit(postgres_url).path.lstrip("/")
    postgres_admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [database],
    )
    worker = start_worker(web, "worker")
    try:
        call.join(120)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    (reply,) = replies
    assert reply.status_code == 200, reply.text
    assert [row["status"] for row in item_rows(postgres_url).values()] == ["done"]


def test_an_upload_the_database_refuses_leaves_no_file_behind(server_factory: Any, postgres_url: str) -> None:
    """The database fails an upload after its files were stored (here: the batch's row held locked past
    lock_timeout; as well a connection killed, a failover): the caller gets a 503 and sends them again, and the
    first sending's files stayed in storage, under no row, for good."""
    web = server_factory(
        DATABASE_URL=f"{postgres_url}?options=-c%20lock_timeout%3D1000",
        EMBEDDED_WORKERS="0",
        SECRET_KEY="refused-upload-on-postgres",
    )
    web.start()
    key = web.create_user("refused")
    headers = {"X-Api-Key": key}
    photo = photo_bytes("coffee.png", size=(160, 120))
    created = requests.post(
        f"{web.url}/api/v1/batches", headers=headers, files={"files": ("a.jpg", photo)}, timeout=30
    ).json()
    with psycopg.connect(postgres_url) as holder:  # another transaction holds the batch's row
        holder.execute("SELECT id FROM removal_batch WHERE id = %s FOR UPDATE", [created["id"]])
        refused = requests.post(
            f"{web.url}/api/v1/batches/{created['id']}/files",
            headers=headers,
            files=[("files", (f"b{index}.jpg", photo)) for index in range(2)],
            timeout=60,
        )
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"]
    stored = sorted(path.name for path in (web.data_dir / "media").rglob("source.*"))
    assert stored == ["source.jpg"]  # a.jpg's only


def test_uploads_from_many_accounts_at_once_fill_the_queue_exactly_on_postgresql(
    server_factory: Any, postgres_url: str
) -> None:
    """Eight accounts each send an image at the same moment to a queue with room for three, through one web process
    on PostgreSQL: three are queued, the others get the batch API's 503 with Retry-After. Each request counted the
    whole queue as it began and again under its account's lock only, and more than three were queued."""
    web = server_factory(
        DATABASE_URL=postgres_url, EMBEDDED_WORKERS="0", MAX_QUEUED_ITEMS="3", SECRET_KEY="queue-at-once-on-postgres"
    )
    web.start()
    keys = [web.create_user(f"sender{index}") for index in range(8)]
    photo = photo_bytes("coffee.png", size=(160, 120))
    all_ready = threading.Barrier(len(keys))

    def upload(key: str) -> requests.Response:
        all_ready.wait()
        files = {"files": ("a.jpg", photo, "image/jpeg")}
        return requests.post(f"{web.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=60)

    with ThreadPoolExecutor(max_workers=len(keys)) as senders:
        replies = list(senders.map(upload, keys))
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [201] * 3 + [503] * 5, [reply.text for reply in replies]
    for refused in (reply for reply in replies if reply.status_code == 503):
        body = refused.json()
        assert (body["status"], body["error"]) == (
            503,
            "the service is busy: too many images are waiting; try again shortly",
        )
        assert refused.headers["Retry-After"] == "5"
    with psycopg.connect(postgres_url) as database:
        queued = database.execute("SELECT count(*) FROM removal_item WHERE status = 'queued'").fetchone()
    assert queued == (3,)
