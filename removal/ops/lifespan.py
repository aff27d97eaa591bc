"""ASGI lifespan: start the embedded worker threads with the server, stop them with it; trim the heap."""

import asyncio
from typing import Any

from django.conf import settings

from removal import events
from removal.ops import heap
from removal.ops.worker import WorkerPool


class EmbeddedWorkers:
    """Runs EMBEDDED_WORKERS job threads inside the web process (0: none)."""

    def __init__(self) -> None:
        self.pool: WorkerPool | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                heap.tend_heap(trim_every_seconds=settings.HEAP_TRIM_SECONDS, arenas=settings.HEAP_ARENAS)
                if settings.EMBEDDED_WORKERS > 0:
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
