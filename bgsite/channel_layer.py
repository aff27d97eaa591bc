"""The Redis channel layer of the scaled setup (CHANNEL_LAYERS when REDIS_URL is set)."""

from typing import Any

# channels_redis receives with a BZPOPMIN that blocks up to 5 s at a time (RedisChannelLayer.brpop_timeout), so a
# socket read must be allowed longer: with redis-py 8's default of 5 s an idle receive lost that race within about
# 20 s, closing every idle websocket with 1013 and deafening a worker process to new jobs. Connecting keeps 5 s.
READ_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5


def redis_channel_layer(url: str) -> dict[str, Any]:
    # Imported here, not at the top: the settings import this module, and redis.asyncio costs every process that reads
    # them (each manage.py command, the embedded server) half a second of CPU that only the scaled setup needs.
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # A restarted Redis leaves dead connections in the pool; check idle
        # ones before use and retry once, instead of failing a websocket.
        "CONFIG": {
            "hosts": [
                {
                    "address": url,
                    "health_check_interval": 5,
                    "retry": Retry(ExponentialBackoff(cap=1, base=0.05), retries=3),
                    "retry_on_error": [RedisConnectionError],
                    "socket_timeout": READ_TIMEOUT_SECONDS,
                    "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
                }
            ]
        },
    }
