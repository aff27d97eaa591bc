import asyncio
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from removal import events
from removal.ops import checks, heap, worker
from removal.ops.worker import WorkerPool

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_signals_caught() -> Iterator[Callable[[], None]]:
    """SIGTERM and SIGINT caught from the start of the `with` block, and the wait for the first of them (at once for
    one caught before it), whichever of the process's threads the signal lands in: Python's own C-level handler
    writes its number to a socket (signal.set_wakeup_fd), and the wait reads it.

    The kernel gives a process's signal to any of its threads, and Python runs the handler in the main thread only
    once that thread runs Python code again: a main thread asleep in Event.wait() never woke when another thread took
    the SIGTERM, and the worker never stopped. The handler does nothing itself: one that set an Event, run between two
    steps of the main thread's own Event.wait, would wait for the lock that thread holds."""
    heard, told = socket.socketpair()
    told.setblocking(False)  # as set_wakeup_fd requires: a signal never waits for the socket's buffer
    previous_fd = signal.set_wakeup_fd(told.fileno(), warn_on_full_buffer=False)
    previous_handlers = {signum: signal.signal(signum, lambda *_: None) for signum in STOP_SIGNALS}

    def wait_for_stop_signal() -> None:
        while heard.recv(1)[0] not in STOP_SIGNALS:
            pass  # another signal that has a Python handler: its number is written too

    try:
        yield wait_for_stop_signal
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        heard.close()
        told.close()


class Command(BaseCommand):
    help = "Run background-removal worker threads until stopped (SIGTERM/SIGINT finish the jobs in hand)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=None, help="default: WORKER_THREADS")

    def handle(self, *args: Any, threads: int | None, **options: Any) -> None:
        if not options.get("skip_checks"):
            for message in checks.told_only_a_worker_process():
                self.stderr.write(f"System check identified an issue for a worker process:\n{message}")
        pool = WorkerPool(threads=threads or settings.WORKER_THREADS)
        # Progress goes out over one Redis connection, not one per message.
        with stop_signals_caught() as wait_for_stop_signal, events.own_loop() as loop:
            pool.start()
            asyncio.run_coroutine_threadsafe(events.listen_for_jobs(worker.notify_workers), loop)
            heap.freeze_start_up_objects()  # as a web process's lifespan does
            self.stdout.write(f"worker {pool.name} running {pool.size} threads; SIGTERM to stop")
            wait_for_stop_signal()
            self.stdout.write("stopping: finishing the jobs in hand")
            pool.stop()
