"""Database connections kept past a request by threads that outlive one (the worker threads, and the event loop's
threads that read for async code: calls waiting on their cutout, removal.events.wait_finished, and the websockets,
removal.web.consumers). The cache's Redis pool is removal.ops.redis_cache.

Django renews a connection per request (CONN_MAX_AGE, 0 under uvicorn, where every request has a thread
of its own: bgsite/settings.py). A thread that lives on would either connect again for every job (on
PostgreSQL 8.5 ms, 2.35 ms of it the thread's CPU) or, never renewing, keep a connection the database
has dropped (a restart, an idle timeout) and fail on it for good. Here a thread goes on with its
connection and lets Django close it after a database error, and every CONNECTION_SECONDS.
"""

import threading
import time
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connections

CONNECTION_SECONDS = 60
_keepers = threading.local()


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
