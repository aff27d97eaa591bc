"""Connections kept past a request: one Redis pool for the process's cache (which fails open), and the database
connections of threads that outlive a request (the worker threads, and the event loop's threads that read for async
code: calls waiting on their cutout, removal.events.wait_finished, and the websockets, removal.web.consumers).

Django renews a connection per request (CONN_MAX_AGE, 0 under uvicorn, where every request has a thread
of its own: bgsite/settings.py). A thread that lives on would either connect again for every job (on
PostgreSQL 8.5 ms, 2.35 ms of it the thread's CPU) or, never renewing, keep a connection the database
has dropped (a restart, an idle timeout) and fail on it for good. Here a thread goes on with its
connection and lets Django close it after a database error, and every CONNECTION_SECONDS.
"""

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from asgiref.sync import sync_to_async
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from django.db import InterfaceError, OperationalError, close_old_connections, connections

logger = logging.getLogger(__name__)

CONNECTION_SECONDS = 60
_keepers = threading.local()


class ProcessRedisPool(redis.ConnectionPool):
    """The cache's pool_class (bgsite/settings.py): one pool per Redis address and options in the process.

    Django's Redis cache keeps its pool on the cache object, and under ASGI each request has cache objects of its
    own (Django ticket 35651): every request that counted a rate limit opened a Redis connection, left open until
    garbage collection (100 requests: 100 connections, 33 still open after them). A connection the pool holds
    when Redis restarts fails once and is made again by redis-py's retry.
    """

    _pools: dict[str, "ProcessRedisPool"] = {}
    _pools_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "ProcessRedisPool":
        key = f"{url} {sorted(options.items())!r}"
        with cls._pools_lock:
            if key not in cls._pools:
                cls._pools[key] = super().from_url(url, **options)
            return cls._pools[key]


class FailOpenRedisCache(RedisCache):
    """The cache's backend with REDIS_URL (bgsite/settings.py): Django's Redis cache, for the rate-limit counters
    only, which a Redis outage must not turn into errors.

    django-ratelimit fails open (RATELIMIT_FAIL_OPEN) when its cache's `add` adds nothing and its `incr` raises
    ValueError, as a memcached client does when its server is gone; Django's Redis cache raised redis-py's
    ConnectionError instead, and every API call, websocket handshake and log-in was answered 500 (or refused)
    while Redis was down. Here an unreachable Redis reads as such a cache: nothing counted, the request goes
    through. One WARNING when Redis is lost, one INFO when it answers again.
    """

    _lost = False

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            added = super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            self._unavailable(exc)
            return False
        self._available()
        return added

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            value = super().get(key, default, version)
        except redis.RedisError as exc:
            self._unavailable(exc)
            return default
        self._available()
        return value

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            value = super().incr(key, delta, version)
        except redis.RedisError as exc:
            self._unavailable(exc)
            raise ValueError("the cache is unavailable") from exc
        self._available()
        return value

    @classmethod
    def _unavailable(cls, exc: Exception) -> None:
        if not cls._lost:
            cls._lost = True
            logger.warning("the cache (Redis) is unavailable; rate limits are not counted meanwhile: %s", exc)

    @classmethod
    def _available(cls) -> None:
        if cls._lost:
            cls._lost = False
            logger.info("the cache (Redis) answers again; rate limits are counted again")


class ConnectionKeeper:
    """When one long-lived thread lets Django close its database connections (see the module)."""

    def __init__(self) -> None:
        self.renewed_at = -float("inf")

    def before_use(self) -> None:
        failed = any(connection.errors_occurred for connection in connections.all(initialized_only=True))
        if failed or time.monotonic() - self.renewed_at >= CONNECTION_SECONDS:
            close_old_connections()
            self.renewed_at = time.monotonic()


def renew_if_due() -> None:
    """ConnectionKeeper.before_use for the calling thread's own keeper."""
    if not hasattr(_keepers, "keeper"):
        _keepers.keeper = ConnectionKeeper()
    _keepers.keeper.before_use()


def kept_connection_read[**P, R](read: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`read` (database reads only) for async code: in a thread of the event loop's pool, on that thread's kept
    connection, and once more on a new one if the database had dropped it.

    channels' database_sync_to_async opens and closes a connection around every call: a websocket's handshake
    opened three (its caller, its batch, the snapshot: 26 ms a handshake on PostgreSQL, 18 ms on kept ones), and
    every socket following a busy batch one a second more, to check its key again.
    """

    def on_kept_connection(*args: P.args, **kwargs: P.kwargs) -> R:
        renew_if_due()
        try:
            return read(*args, **kwargs)
        except (OperationalError, InterfaceError):
            renew_if_due()  # the error is noted on the connection: this closes it
            return read(*args, **kwargs)

    return sync_to_async(on_kept_connection, thread_sensitive=False)
