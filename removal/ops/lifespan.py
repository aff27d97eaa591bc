"""ASGI lifespan: start the embedded worker threads with the server, stop them with it; trim the heap."""

import asyncio
import fcntl
import os
from typing import IO, Any

from django.conf import settings

from removal import events
from removal.ops import heap
from removal.ops.worker import WorkerPool


class DataDirTaken(Exception):
    """Another process serves DATA_DIR with worker threads and the in-memory channel layer."""


def data_dir_held() -> IO[str] | None:
    """DATA_DIR held for this process while it lives (the lock goes with it, however it ends), where its worker
    threads' progress reaches only its own pages (the in-memory channel layer); DataDirTaken while another holds it.

    A second `make run` on the same folder (another PORT) shared the database and took half of each batch's images,
    whose progress never reached the first server's pages: their cards stayed "waiting" until a reload.
    """
    if not str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).endswith("InMemoryChannelLayer"):
        return None
    lock = (settings.DATA_DIR / "server.lock").open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise DataDirTaken(
            f"{holder} serves DATA_DIR={settings.DATA_DIR} already, with worker threads and the in-memory channel "
            "layer, whose live progress would not reach this server's pages: stop it, give this server a DATA_DIR of "
            "its own, or set REDIS_URL to run several (docs/deploy.md)"
        ) from None
    lock.truncate(0)
    lock.write(f"bgsite server pid {os.getpid()}\n")
    lock.flush()
    return lock


class EmbeddedWorkers:
    """Runs EMBEDDED_WORKERS job threads inside the web process (0: none)."""

    def __init__(self) -> None:
        self.pool: WorkerPool | None = None
        self.data_dir: IO[str] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                heap.tend_heap(trim_every_seconds=settings.HEAP_TRIM_SECONDS, arenas=settings.HEAP_ARENAS)
                if settings.EMBEDDED_WORKERS > 0:
                    try:
                        self.data_dir = data_dir_held()
                    except DataDirTaken as exc:
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                    events.bind_server_loop(asyncio.get_running_loop())
                    self.pool = WorkerPool(threads=settings.EMBEDDED_WORKERS, name="embedded")
                    self.pool.start()
                heap.freeze_start_up_objects()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    # Jobs in hand finish; their progress still goes out through this loop.
                    await asyncio.to_thread(self.pool.stop)
                events.bind_server_loop(None)
                await send({"type": "lifespan.shutdown.complete"})
                return
