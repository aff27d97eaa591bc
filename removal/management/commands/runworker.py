import asyncio
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from removal import events
from removal.ops import checks, heap, worker
from removal.ops.worker import WorkerPool


class Command(BaseCommand):
    help = "Run background-removal worker threads until stopped (SIGTERM/SIGINT finish the jobs in hand)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--threads", type=int, default=None, help="default: WORKER_THREADS")

    def handle(self, *args: Any, threads: int | None, **options: Any) -> None:
        if not options.get("skip_checks"):
            for message in checks.told_only_a_worker_process():
                self.stderr.write(f"System check identified an issue for a worker process:\n{message}")
        pool = WorkerPool(threads=threads or settings.WORKER_THREADS)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        with events.own_loop() as loop:  # progress goes out over one Redis connection, not one per message
            pool.start()
            asyncio.run_coroutine_threadsafe(events.listen_for_jobs(worker.notify_workers), loop)
            heap.freeze_start_up_objects()  # as a web process's lifespan does
            self.stdout.write(f"worker {pool.name} running {pool.size} threads; SIGTERM to stop")
            stop.wait()
            self.stdout.write("stopping: finishing the jobs in hand")
            pool.stop()
