"""Live fault injection: lost database connections, a storage outage, a broken media folder.

Each test runs its own server so a fault cannot leak into other tests.
"""

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from tests.conftest import LiveServer, S3Server, own_redis, photo_bytes, start_s3_server

pytestmark = pytest.mark.live

PHOTO = photo_bytes("coffee.png", size=(1280, 960))


def upload(server: LiveServer, key: str, count: int) -> dict[str, Any]:
    files = [("files", (f"p{index}.jpg", PHOTO, "image/jpeg")) for index in range(count)]
    reply = requests.post(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=60)
    assert reply.status_code == 201, reply.text
    return reply.json()


def batch_state(server: LiveServer, key: str, batch_id: str) -> dict[str, Any]:
    return requests.get(f"{server.url}/api/v1/batches/{batch_id}", headers={"X-Api-Key": key}, timeout=30).json()


def wait_until_finished(server: LiveServer, key: str, batch_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = batch_state(server, key, batch_id)
        if state["status"] == "done":
            return state
        time.sleep(0.2)
    raise AssertionError(f"batch not finished:\n{server.log()[-3000:]}")


def test_killed_database_connections_lose_nothing(server_factory: Any, postgres_url: str, postgres_admin: Any) -> None:
    server = server_factory(DATABASE_URL=postgres_url, ITEM_LEASE_SECONDS="3")
    server.start()
    key = server.create_user("pgfault")
    batch = upload(server, key, 6)
    while batch_state(server, key, batch["id"])["counts"]["done"] < 1:
        time.sleep(0.05)
    database = postgres_url.rsplit("/", 1)[1]
    killed = postgres_admin.execute(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()) AS terminated",
        (database,),
    ).fetchone()[0]
    assert killed >= 1

    state = wait_until_finished(server, key, batch["id"])
    assert state["counts"] == {"queued": 0, "processing": 0, "done": 6, "failed": 0, "total": 6, "needs_review": 0}
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    server.stop()


def test_pages_log_ins_and_websockets_get_503_while_the_database_refuses_connections(
    server_factory: Any, postgres_url: str, postgres_admin: Any
) -> None:
    """PostgreSQL refusing every connection (down, restarting, failing over): API calls answered 503 and when to
    retry, but a log-in, any signed-in page and a websocket's handshake a bare 500. Once it is back, all work again
    and nothing accepted before is lost."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = server_factory(DATABASE_URL=postgres_url, EMBEDDED_WORKERS="0", SECRET_KEY="database-refused")
    server.start()
    key = server.create_user("dbdown")
    batch = upload(server, key, 1)
    signed_in = server.signed_in("dbdown")
    browser = requests.Session()
    browser.get(f"{server.url}/accounts/login/", timeout=30)
    form = {
        "username": "dbdown",
        "password": "correct horse battery",
        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
    }
    database = postgres_url.rsplit("/", 1)[1]
    postgres_admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    postgres_admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))

    login = browser.post(f"{server.url}/accounts/login/", data=form, headers={"Referer": server.url}, timeout=30)
    page = signed_in.get(f"{server.url}/batches/", timeout=30)
    for reply in (login, page):
        assert (reply.status_code, reply.headers.get("Retry-After")) == (503, "5"), reply.text
        assert "<h1>Briefly unavailable</h1>" in reply.text
    listed = signed_in.get(f"{server.url}/api/v1/batches", timeout=30)
    assert (listed.status_code, listed.json()["status"]) == (503, 503)
    for headers in (
        {"X-Api-Key": key},
        {"Cookie": f"sessionid={signed_in.cookies['sessionid']}", "Origin": server.url},
    ):
        with (
            connect(f"{server.ws_url}{batch['ws']}", additional_headers=headers) as socket,
            pytest.raises(ConnectionClosed) as closed,
        ):
            socket.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # try again later

    postgres_admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    login = browser.post(f"{server.url}/accounts/login/", data=form, headers={"Referer": server.url}, timeout=30)
    assert login.status_code == 200 and "sessionid" in browser.cookies
    assert batch["id"] in signed_in.get(f"{server.url}/batches/", timeout=30).text
    server.stop()
    assert "Internal Server Error" not in server.log() and "Exception in ASGI application" not in server.log()


@pytest.fixture
def private_s3() -> Iterator[tuple[S3Server, subprocess.Popen[bytes]]]:
    """An S3 server of this test's own, which the test may stop."""
    server, process = start_s3_server("outage")
    yield server, process
    process.kill()
    process.wait()


def test_storage_outage_fails_items_clearly_after_retries(server_factory: Any, private_s3: Any) -> None:
    s3, process = private_s3
    server = server_factory(**s3.env, ITEM_MAX_ATTEMPTS="2", EMBEDDED_WORKERS="1")
    server.start()
    key = server.create_user("s3fault")
    batch = upload(server, key, 3)
    process.kill()  # the bucket goes away with the images uploaded but not processed
    process.wait()

    state = wait_until_finished(server, key, batch["id"], timeout=120)
    assert state["counts"]["failed"] >= 1
    for item in state["items"]:
        assert item["status"] in ("done", "failed")
        if item["status"] == "failed":
            assert item["error"].startswith("processing failed:")
            assert "gave up at attempt 2" in item["error"]
            assert item["result"] is None
    # Nothing half-written is listed as done: a done item's cutout is readable.
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    ready = requests.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["storage"]["ok"] is False
    server.stop()


def test_broken_local_storage_refuses_uploads_with_a_clear_error(server_factory: Any) -> None:
    server = server_factory()
    server.start()
    key = server.create_user("diskfault")
    media = server.data_dir / "media"
    shutil.rmtree(media, ignore_errors=True)
    media.write_text("not a directory")  # every save now fails, as on a dead disk
    reply = requests.post(
        f"{server.url}/api/v1/batches",
        headers={"X-Api-Key": key},
        files=[("files", ("a.jpg", PHOTO, "image/jpeg"))],
        timeout=30,
    )
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"].startswith("storage is unavailable")
    assert reply.headers["Retry-After"]
    media.unlink()
    assert upload(server, key, 1)["items"][0]["status"] == "queued"
    server.stop()


def test_redis_restart_loses_no_item_and_clients_recover(server_factory: Any) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with own_redis() as redis:
        server = server_factory(REDIS_URL=redis.url, EMBEDDED_WORKERS="1")
        server.start()
        key = server.create_user("redisfault")
        batch = upload(server, key, 6)
        with connect(f"{server.ws_url}{batch['ws']}", additional_headers={"X-Api-Key": key}) as socket:
            assert json.loads(socket.recv(timeout=10))["event"] == "snapshot"
            redis.stop()
            # The server drops sockets whose channel layer is gone, so clients know to reconnect.
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    socket.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # try again later
        redis.start()

        state = wait_until_finished(server, key, batch["id"])
        assert state["counts"]["done"] == 6, "no item is lost while progress cannot be sent"
        with connect(f"{server.ws_url}{batch['ws']}", additional_headers={"X-Api-Key": key}) as again:
            snapshot = json.loads(again.recv(timeout=10))
            assert snapshot["batch"]["counts"]["done"] == 6
            more = requests.post(
                f"{server.url}/api/v1/batches/{batch['id']}/files",
                headers={"X-Api-Key": key},
                files=[("files", ("late.jpg", PHOTO, "image/jpeg"))],
                timeout=30,
            )
            assert more.status_code == 201
            while (event := json.loads(again.recv(timeout=60)))["item"]["status"] != "done":
                pass  # progress flows through the restarted Redis again
            assert event["item"]["filename"] == "late.jpg"
        server.stop()
        assert "Exception in ASGI application" not in server.log()  # one warning instead
        assert "the channel layer is unavailable (ConnectionError" in server.log()


def test_calls_and_handshakes_go_through_while_redis_is_down(server_factory: Any) -> None:
    """Redis down: the rate limits' cache fails open and the websocket says "try again later". Before, every API call
    and log-in got a 500 (django-ratelimit fails open only on a failed DNS lookup, not on redis-py's ConnectionError),
    and a websocket's handshake a bare 403."""
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with own_redis() as redis:
        server = server_factory(REDIS_URL=redis.url, EMBEDDED_WORKERS="1")
        server.start()
        key = server.create_user("redisdown")
        batch = upload(server, key, 1)
        redis.stop()

        listed = requests.get(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, timeout=30)
        assert listed.status_code == 200, listed.text
        assert "RateLimit-Limit" not in listed.headers  # not counted meanwhile
        files = {"file": ("photo.jpg", photo_bytes("coffee.png", size=(96, 72)), "image/jpeg")}
        cut = requests.post(f"{server.url}/bgremove", headers={"X-Api-Key": key}, files=files, timeout=120)
        assert cut.status_code == 200, cut.text
        browser = requests.Session()
        browser.get(f"{server.url}/accounts/login/", timeout=30)
        form = {"username": "redisdown", "password": "wrong", "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        login = browser.post(f"{server.url}/accounts/login/", data=form, headers={"Referer": server.url}, timeout=30)
        assert login.status_code == 200 and "sessionid" not in browser.cookies  # the form again, not a 500
        headers = {"X-Api-Key": key}
        with (
            connect(f"{server.ws_url}{batch['ws']}", additional_headers=headers) as socket,
            pytest.raises(ConnectionClosed) as closed,
        ):
            socket.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # try again later

        redis.start()
        counted = requests.get(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, timeout=30)
        assert counted.status_code == 200 and counted.headers["RateLimit-Limit"] == "120"
        with connect(f"{server.ws_url}{batch['ws']}", additional_headers={"X-Api-Key": key}) as socket:
            assert json.loads(socket.recv(timeout=30))["event"] == "snapshot"
        server.stop()
        assert "Internal Server Error" not in server.log(), server.log()[-3000:]
        assert server.log().count("the cache (Redis) is unavailable") == 1


def test_a_bucket_that_hangs_gets_a_503_not_a_wait_of_minutes(server_factory: Any, private_s3: Any) -> None:
    """S3 that accepts connections and never answers (a hung server, a black-holed route): botocore's defaults (60 s a
    read, 5 tries) held an upload, a /bgremove call and /readyz for 5 minutes. Bounded by AWS_S3_TIMEOUT_SECONDS
    (1 s here, two tries), they answer 503 with Retry-After well within a client's 60 s."""
    import signal

    s3, process = private_s3
    server = server_factory(**s3.env, EMBEDDED_WORKERS="1", AWS_S3_TIMEOUT_SECONDS="1")
    server.start()
    key = server.create_user("s3hung")
    process.send_signal(signal.SIGSTOP)
    try:
        files = [("files", ("a.jpg", PHOTO, "image/jpeg"))]
        upload = requests.post(f"{server.url}/api/v1/batches", headers={"X-Api-Key": key}, files=files, timeout=60)
        assert upload.status_code == 503, upload.text
        assert upload.json()["error"].startswith("storage is unavailable") and upload.headers["Retry-After"]
        ready = requests.get(f"{server.url}/readyz", timeout=60)
        assert ready.status_code == 503 and ready.json()["checks"]["storage"]["ok"] is False
    finally:
        process.send_signal(signal.SIGCONT)
    assert requests.get(f"{server.url}/readyz", timeout=60).status_code == 200
    server.stop()


def models_folder(tmp_path: Path, *, damaged: str) -> Path:
    """A U2NET_HOME holding the served model (which the workers' warm-up loads) and `damaged`'s file as bytes that are
    no ONNX model (the served one itself, if it is named)."""
    models = tmp_path / "u2net"
    models.mkdir()
    served = f"{settings.REMBG_MODEL}.onnx"
    (models / served).symlink_to(settings.U2NET_HOME / served)
    (models / f"{damaged}.onnx").unlink(missing_ok=True)
    (models / f"{damaged}.onnx").write_bytes(b"not an ONNX model")
    return models


def started_on(server_factory: Any, models: Path, username: str, **env: str) -> tuple[LiveServer, dict[str, str]]:
    """A live server with one worker thread, each item run once, on `models`; its new user's key as headers."""
    server = server_factory(U2NET_HOME=str(models), ITEM_MAX_ATTEMPTS="1", EMBEDDED_WORKERS="1", **env)
    server.start()
    return server, {"X-Api-Key": server.create_user(username)}


def test_a_call_whose_item_failed_on_the_server_gets_a_503_to_retry(server_factory: Any, tmp_path: Any) -> None:
    """An item that fails for the server's reason (here the second model that quality=best loads is broken; storage
    down and lost workers end the same way) gave /bgremove and /v1.0/removebg callers a 500, as for a bug, though
    nothing was charged and the call may be sent again: a 503 with Retry-After, in each API's shape. An undecodable
    image stays a 400."""
    models = models_folder(tmp_path, damaged="u2net-int8")
    server, headers = started_on(server_factory, models, "modelcrash", QUALITY_BEST_PARTNER="u2net-int8")
    photo = {"file": ("photo.jpg", photo_bytes("coffee.png", size=(96, 72)), "image/jpeg")}
    for path in ("/bgremove", "/api/v1/bgremove"):
        pixlab = requests.post(f"{server.url}{path}?quality=best", headers=headers, files=photo, timeout=120)
        assert pixlab.status_code == 503, pixlab.text
        assert pixlab.json()["status"] == 503 and pixlab.json()["error"].startswith("processing failed:")
        assert int(pixlab.headers["Retry-After"]) > 0
    image = {"image_file": ("photo.jpg", photo_bytes("coffee.png", size=(96, 72)), "image/jpeg")}
    removebg = requests.post(
        f"{server.url}/v1.0/removebg", headers=headers, data={"quality": "best"}, files=image, timeout=120
    )
    assert removebg.status_code == 503, removebg.text
    assert removebg.json()["errors"][0]["code"] == "service_unavailable"
    assert int(removebg.headers["Retry-After"]) > 0
    broken = {"file": ("photo.jpg", photo_bytes("coffee.png", size=(96, 72))[:200], "image/jpeg")}
    refused = requests.post(f"{server.url}/bgremove?quality=best", headers=headers, files=broken, timeout=120)
    assert refused.status_code == 400, refused.text
    server.stop()


def test_a_damaged_default_model_fails_each_call_at_once_and_says_why_without_a_server_path(
    server_factory: Any, tmp_path: Any
) -> None:
    """The default model's file damaged: each embedded worker thread died at its warm-up with a traceback, the server
    went on taking work, and every /bgremove call waited out its timeout for a 504. The threads live on: each call is a
    503 at once, whose error names the models' folder by its setting, not by where it is on the server."""
    models = models_folder(tmp_path, damaged="u2netp-int8")
    server, headers = started_on(server_factory, models, "damagedmodel", BGREMOVE_TIMEOUT_SECONDS="30")
    photo = {"file": ("photo.jpg", photo_bytes("coffee.png", size=(96, 72)), "image/jpeg")}
    reply = requests.post(f"{server.url}/bgremove", headers=headers, files=photo, timeout=120)
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert "U2NET_HOME/u2netp-int8.onnx" in error and str(models) not in error
    server.stop()
    assert "could not load its model" in server.log()
