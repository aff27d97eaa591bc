"""Live progress: item state changes sent to the batch owner's websocket group.

Workers run in plain threads. The in-memory channel layer is not thread-safe
(its queues belong to the server's event loop), so when workers live inside the
web process their messages are handed to that loop; separate worker processes
use the Redis layer directly.
"""

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from removal.ops import connections

logger = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


def bind_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Route messages from worker threads through the web server's event loop."""
    global _server_loop
    _server_loop = loop


@contextmanager
def own_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Worker threads' messages go through a loop of this process's own for the `with` block: a `manage.py
    runworker` process has no web server's. Without it each message ran in an event loop made for it (asgiref's
    async_to_sync, in a thread of its own), and channels_redis opens a Redis connection for every loop: three
    connections an image, each with its handshake."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="events-loop", daemon=True)
    thread.start()
    bind_server_loop(loop)
    try:
        yield loop
    finally:
        bind_server_loop(None)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        if tasks := asyncio.all_tasks(loop):  # listen_for_jobs: it leaves its group
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.wait(tasks))
        loop.close()  # channels_redis closes its connections of the loop


JOBS_GROUP = "jobs"  # the worker processes, told when another process (a web-only one) queues jobs
# A channels_redis group forgets its members after a day, and a restarted Redis forgets them at once: a worker process
# joins the jobs group again at least every JOBS_REJOIN_SECONDS, after every JOBS_QUIET_SECONDS without a message,
# and JOBS_RETRY_SECONDS after the channel layer failed (Redis out of reach).
JOBS_REJOIN_SECONDS, JOBS_QUIET_SECONDS, JOBS_RETRY_SECONDS = 600, 10, 30


def jobs_queued() -> None:
    """Wake the idle threads of the worker processes (listen_for_jobs) now, rather than at their next poll."""
    publish(JOBS_GROUP, {"type": "jobs.queued"})


async def listen_for_jobs(wake: Callable[[], None]) -> None:
    """Call `wake` whenever another process says it queued jobs, until cancelled (best effort: workers poll too).

    Without it a worker process found a web process's jobs only at its next poll (WORKER_POLL_SECONDS): a /bgremove
    call in the scaled topology waited 580 ms for its worker on average, and took 708 ms where one process takes 179.
    """
    while True:
        async with GroupListener(JOBS_GROUP) as listener:
            joined_at = time.monotonic()
            while listener.listening:
                heard = await listener.next(timeout=JOBS_QUIET_SECONDS)
                if heard is not None:
                    wake()
                # A restarted Redis keeps the receive going on a new connection but has forgotten the group: once
                # rejoined only every 10 minutes, the worker processes stayed deaf that long and found jobs by polling.
                # A receive that failed gave up its channel (and said why): rejoining with none only logged that its
                # name was invalid; it listens again after JOBS_RETRY_SECONDS instead.
                if listener.listening and (heard is None or time.monotonic() - joined_at > JOBS_REJOIN_SECONDS):
                    await listener.join()
                    joined_at = time.monotonic()
        await asyncio.sleep(JOBS_RETRY_SECONDS)


def batch_group(batch_id: uuid.UUID | str) -> str:
    return f"batch.{batch_id}"


def item_changed(*, item_id: uuid.UUID, state: Any = None) -> None:
    """Tell the item's batch group about the item's state and the batch totals.

    `state` is the Item as it was at the change; without it, the current row is sent.
    """
    from removal.models import Item

    item = state or Item.objects.select_related("batch").filter(pk=item_id).first()
    if item is not None:
        items_changed([item])


def items_changed(items: Sequence[Any]) -> None:
    """item_changed for each of `items` (Items as they were at the change), each batch's totals read once: an
    upload request of a hundred photos is one counts query, not a hundred."""
    from removal import selectors, serializers

    counts: dict[uuid.UUID, Any] = {}
    for item in items:
        if item.batch_id not in counts:
            counts[item.batch_id] = selectors.batch_counts(item.batch)
        publish(
            batch_group(item.batch_id),
            {
                "type": "batch.event",
                "event": "item",
                "item": serializers.serialize_item(item),
                "batch": serializers.serialize_batch_summary(item.batch, counts[item.batch_id]),
                # For each socket to write the error in its page's language (web.consumers); not sent as it is.
                ERROR_MESSAGE: {"template": item.error_template, "values": item.error_values},
            },
        )


ERROR_MESSAGE = "error_message"  # an item event's error as a template and its values (Item.error_text)


def item_removed(*, item_id: uuid.UUID, batch: Any) -> None:
    """Tell the batch group that its owner deleted an item, with the batch's totals without it."""
    from removal import selectors, serializers

    summary = serializers.serialize_batch_summary(batch, selectors.batch_counts(batch))
    publish(
        batch_group(batch.pk), {"type": "batch.event", "event": "removed", "item_id": str(item_id), "batch": summary}
    )


def batch_deleted(*, batch_id: uuid.UUID) -> None:
    """Tell the batch group that its owner deleted the batch (a page still open on it says so)."""
    publish(batch_group(batch_id), {"type": "batch.event", "event": "deleted", "batch_id": str(batch_id)})


def batch_renamed(*, batch_id: uuid.UUID, name: str) -> None:
    """Tell the batch group its new name (another page open on it shows it)."""
    publish(batch_group(batch_id), {"type": "batch.event", "event": "renamed", "batch_id": str(batch_id), "name": name})


def item_progress(item: Any, done: int, total: int) -> None:
    """Frames done of an animation, while the item is processing."""
    publish(
        batch_group(item.batch_id),
        {"type": "batch.event", "event": "progress", "item_id": str(item.id), "frames_done": done, "frames": total},
    )


def publish(group: str, message: dict[str, Any]) -> None:
    """Send to a group; progress is best effort and never fails the caller's work."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _server_loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=10)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception as exc:
        # Clients that missed it get the true state from the snapshot when they reconnect.
        logger.warning("could not publish progress to %s: %s: %s", group, exc.__class__.__name__, exc)


class GroupListener:
    """Receive a group's events in this (async) process: a batch's, to wake a waiting /bgremove at once; JOBS_GROUP's,
    to wake a worker process's idle threads.

    Best effort, like publishing: if the channel layer is unavailable, `next`
    just waits out its timeout and the caller falls back to reading the database.
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self.layer = get_channel_layer()
        self.channel = ""

    async def __aenter__(self) -> "GroupListener":
        if self.layer is not None:
            try:
                self.channel = await self.layer.new_channel()
            except Exception as exc:
                logger.warning("cannot listen to %s: %s", self.group, exc)
            else:
                await self.join()
        return self

    async def join(self) -> None:
        """Be (again) a member of the group; no longer listening when the channel layer refuses."""
        try:
            await self.layer.group_add(self.group, self.channel)
        except Exception as exc:
            logger.warning("cannot listen to %s: %s", self.group, exc)
            self.channel = ""

    async def __aexit__(self, *exc: object) -> None:
        if self.channel and self.layer is not None:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:
                logger.debug("could not leave %s", self.group, exc_info=True)

    @property
    def listening(self) -> bool:
        """Whether it is in its group: False once the channel layer failed (it then only waits out timeouts)."""
        return bool(self.channel)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds."""
        if not self.channel or self.layer is None:
            await asyncio.sleep(timeout)
            return None
        try:
            return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
        except TimeoutError:
            return None
        except Exception as exc:
            logger.warning("listening to %s failed: %s", self.group, exc)
            self.channel = ""
            return None


class NotFinishedInTime(Exception):
    """A waiting caller's item was not finished in time; it is still being made (HTTP 504)."""

    def __init__(self, item_id: uuid.UUID, seconds: float) -> None:
        # A reply that cannot say where the result will be (remove.bg's shape) says `busy` alone.
        self.busy = f"the cutout was not ready within {seconds:g} s; the service is busy"
        super().__init__(f"{self.busy}. It is still being made: fetch it later from 'result'")
        self.item_id = item_id


def _item_finished(item_id: uuid.UUID) -> Any:
    """The item if it is finished, else None."""
    from removal import selectors  # selectors -> models; imported late as item_changed does

    return selectors.item_finished(item_id)


async def wait_finished(item_id: uuid.UUID, batch_id: uuid.UUID, *, timeout_seconds: float) -> Any:
    """The item once the workers have finished it (done or failed), or NotFinishedInTime.

    Woken by the item's own progress events (through the channel layer, from
    embedded or separate workers alike); the database is read again on each
    wake-up and at least every quarter second, so a lost event costs little.
    """
    deadline = time.monotonic() + timeout_seconds
    read = connections.kept_connection_read(_item_finished)
    async with GroupListener(batch_group(batch_id)) as listener:
        while (item := await read(item_id)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotFinishedInTime(item_id, timeout_seconds)
            await listener.next(timeout=min(0.25, remaining))
    return item
