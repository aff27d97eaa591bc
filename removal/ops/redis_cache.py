"""The cache of the scaled setup (CACHES when REDIS_URL is set): one Redis pool for the process, failing open.

A module of its own, named by the settings and imported only where they name it, so that a process without Redis
(each manage.py command, the embedded server) does not load redis-py (half a second of CPU at every start).
"""

import logging
import threading
from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


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
