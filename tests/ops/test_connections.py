"""Long-lived threads' database connections and the cache's one Redis pool (removal/ops/connections.py), and a
worker process's progress over one Redis connection (removal.events.own_loop); a dropped database connection under a
live server is in tests/ops/test_scaled.py, a Redis restart in tests/ops/test_faults.py."""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import close_old_connections, connection

from removal import events
from removal.models import Item
from removal.ops import connections
from tests.conftest import own_redis

pytestmark = pytest.mark.django_db(transaction=True)


def jobs_that_closed(monkeypatch: pytest.MonkeyPatch, jobs: list[str]) -> list[int]:
    """Run `jobs` in a thread of its own, as a worker does: the jobs before which the keeper had Django close the
    thread's old connections (the test's in-memory SQLite stays open; any other database's connection goes).
    A job "fails" with a database error, "waits" past CONNECTION_SECONDS, or just "runs"."""
    ran: list[str] = []
    closed: list[int] = []

    def close_and_note() -> None:
        closed.append(len(ran))
        close_old_connections()

    monkeypatch.setattr(connections, "close_old_connections", close_and_note)
    keeper = connections.ConnectionKeeper()

    def work() -> None:
        for job in jobs:
            if job == "waits":
                keeper.renewed_at -= connections.CONNECTION_SECONDS
            keeper.before_use()
            Item.objects.exists()
            connection.errors_occurred = job == "fails"
            ran.append(job)
        connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert ran == jobs
    return closed


def test_a_worker_thread_goes_on_with_one_connection_from_job_to_job(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jobs_that_closed(monkeypatch, ["runs"] * 5) == [0]


def test_a_database_error_or_the_connections_age_has_the_next_job_connect_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert jobs_that_closed(monkeypatch, ["runs", "fails", "runs", "runs", "waits", "runs"]) == [0, 2, 4]


def named_redis_connections_after_requests(redis_url: str, pool_class: str, requests: int) -> int:
    """Redis connections opened by `requests` requests, each in a thread of its own with a cache object of its own,
    as under ASGI (the objects are kept, so none of their connections has been closed by garbage collection)."""
    import uuid

    import redis
    from django.core.cache.backends.redis import RedisCache

    name = f"bgsite-test-{uuid.uuid4().hex[:8]}"
    caches: list[RedisCache] = []

    def request() -> None:
        cache = RedisCache(redis_url, {"OPTIONS": {"pool_class": pool_class, "client_name": name}})
        caches.append(cache)
        cache.set("counted", 1)
        assert cache.get("counted") == 1

    for _ in range(requests):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    return sum(entry.get("name") == name for entry in redis.Redis.from_url(redis_url).client_list())


def test_the_cache_keeps_one_redis_connection_for_requests_one_after_another(redis_url: str) -> None:
    assert named_redis_connections_after_requests(redis_url, "removal.ops.redis_cache.ProcessRedisPool", 10) == 1
    # Django's own pool, one per cache object: a connection for each request.
    assert named_redis_connections_after_requests(redis_url, "redis.ConnectionPool", 10) == 10


def redis_connections_for_messages(
    settings: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch, *, own_loop: bool
) -> int:
    """Redis connections opened while worker threads (plain threads, as in `manage.py runworker`) publish 10
    messages."""
    from redis.asyncio.connection import Connection

    from removal import events

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    opened: list[object] = []
    connect = Connection._connect

    async def counted(self: Connection) -> None:
        opened.append(self)
        await connect(self)

    monkeypatch.setattr(Connection, "_connect", counted)

    def publish_all() -> None:
        for index in range(10):
            thread = threading.Thread(target=events.publish, args=("batch.probe", {"type": "batch.event", "n": index}))
            thread.start()
            thread.join()

    if own_loop:
        with events.own_loop():
            publish_all()
    else:
        publish_all()
    return len(opened)


def test_a_worker_process_publishes_progress_over_one_redis_connection(
    settings: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert redis_connections_for_messages(settings, redis_url, monkeypatch, own_loop=True) == 1
    # A loop made for each message (asgiref's async_to_sync outside any loop): a connection for each.
    assert redis_connections_for_messages(settings, redis_url, monkeypatch, own_loop=False) == 10


def test_a_worker_process_hears_of_jobs_again_soon_after_redis_restarts(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted Redis keeps the job listener's receive going on a new connection but forgets its group: it stayed
    deaf until its next rejoin (10 minutes), and the workers found a web process's jobs only at their polls meanwhile.
    It joins again after every quiet JOBS_QUIET_SECONDS."""
    from bgsite.channel_layer import redis_channel_layer

    monkeypatch.setattr(events, "JOBS_QUIET_SECONDS", 0.5)
    woken = threading.Event()
    with own_redis() as redis, jobs_listened(woken, settings, redis_channel_layer(redis.url)):
        assert heard_within(woken, seconds=10)
        redis.stop()
        redis.start()
        assert heard_within(woken, seconds=20)


def test_a_job_listener_that_lost_redis_says_why_and_listens_again(
    settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis lost while the job listener waits: it logged its real cause, then tried to rejoin with the channel it had
    just given up, and logged "cannot listen to jobs: Channel name must be a valid unicode string…", which sends
    whoever reads the log after the wrong cause. It rejoins only while listening, and listens again once Redis is."""
    from bgsite.channel_layer import redis_channel_layer

    monkeypatch.setattr(events, "JOBS_QUIET_SECONDS", 10)  # the loss comes while it waits on Redis
    monkeypatch.setattr(events, "JOBS_RETRY_SECONDS", 0.5)
    woken = threading.Event()
    with own_redis() as redis, jobs_listened(woken, settings, redis_channel_layer(redis.url)):
        assert heard_within(woken, seconds=10)
        with caplog.at_level("WARNING", logger="removal.events"):
            redis.stop()
            deadline = time.monotonic() + 10
            while "listening to jobs failed: Error 111" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1)  # its retries (JOBS_RETRY_SECONDS) meanwhile find Redis down too
            assert "listening to jobs failed: Error 111 connecting" in caplog.text
            assert "Channel name must be" not in caplog.text
        redis.start()
        assert heard_within(woken, seconds=20)


@contextlib.contextmanager
def jobs_listened(woken: threading.Event, settings: Any, channel_layer: dict[str, Any]) -> Iterator[None]:
    """listen_for_jobs(woken.set) over `channel_layer` on a thread's own loop, as a worker process runs it, stopped at
    the end: a listener left running would take the next test's channel layer and receive on it from another loop."""
    settings.CHANNEL_LAYERS = {"default": channel_layer}
    stop = threading.Event()

    async def listen_until_stopped() -> None:
        listening = asyncio.ensure_future(events.listen_for_jobs(woken.set))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening

    thread = threading.Thread(target=asyncio.run, args=(listen_until_stopped(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def heard_within(woken: threading.Event, *, seconds: float) -> bool:
    """Whether a jobs_queued, said again every 0.2 s, wakes the listener within `seconds`."""
    woken.clear()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events.jobs_queued()
        if woken.wait(0.2):
            return True
    return False
