"""The heap trimmer (removal.ops.heap): what a thread freed goes back to the system, which glibc alone does not do."""

import asyncio
import ctypes
import gc
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from removal.ops import heap
from removal.ops.lifespan import EmbeddedWorkers
from tests.conftest import REPO, require_or_skip, rss_bytes

BLOCK = 32 * 1024  # under glibc's mmap threshold: served from an arena's heap
BLOCKS = 3000
MB = 2**20


def libc() -> Any:
    c = ctypes.CDLL(None)
    c.malloc.restype, c.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    c.free.argtypes = [ctypes.c_void_p]
    c.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    return c


@pytest.fixture
def no_trimmer_beside() -> Iterator[None]:
    """This process's own trimmer paused, then started again: a test of this xdist worker that started a
    worker pool earlier left one running, which could give a test's heap back before it measured anything."""
    running = heap._process_trimmer
    if running is None:
        yield
        return
    running.stop()
    heap._process_trimmer = None
    try:
        yield
    finally:
        heap._process_trimmer = heap.HeapTrimmer(running.every_seconds).start()


@pytest.fixture
def fragmented_heap(no_trimmer_beside: None) -> Iterator[int]:
    """A thread, as Django starts one per request, fills ~94 MB of its arena and frees 9 blocks in 10:
    the rest stays resident. Yields the bytes that could be handed back."""
    if not heap.release_free_heap():
        require_or_skip("this C library has no malloc_trim")
    c, kept = libc(), []

    def request_thread() -> None:
        blocks = [c.malloc(BLOCK) for _ in range(BLOCKS)]
        for block in blocks:
            c.memset(block, 1, BLOCK)  # resident
        for index, block in enumerate(blocks):
            if index % 10 == 9:
                kept.append(block)  # what stays in use between the freed runs
            else:
                c.free(block)

    thread = threading.Thread(target=request_thread)
    thread.start()
    thread.join()
    yield BLOCK * BLOCKS * 9 // 10
    for block in kept:
        c.free(block)


def test_a_trimmer_hands_back_the_pages_a_finished_thread_freed(fragmented_heap: int) -> None:
    time.sleep(0.3)
    before = rss_bytes(os.getpid())
    time.sleep(0.3)
    assert before - rss_bytes(os.getpid()) < 0.2 * fragmented_heap, "glibc gave it back by itself: nothing to test"
    trimmer = heap.HeapTrimmer(every_seconds=0.05).start()
    try:
        deadline = time.monotonic() + 5
        while before - rss_bytes(os.getpid()) < 0.6 * fragmented_heap and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        trimmer.stop()
    released = before - rss_bytes(os.getpid())
    assert released >= 0.6 * fragmented_heap, f"{released / MB:.1f} MB of {fragmented_heap / MB:.1f} MB handed back"


def test_a_web_process_trims_from_its_start_once_and_not_when_set_to_0(settings: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(heap, "_process_trimmer", None)
    settings.EMBEDDED_WORKERS, settings.HEAP_TRIM_SECONDS = 0, 0.5
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, str]:
        return next(messages)

    async def send(message: dict[str, str]) -> None:
        pass

    asyncio.run(EmbeddedWorkers()({"type": "lifespan"}, receive, send))
    trimmer = heap._process_trimmer
    assert trimmer is not None and trimmer.thread.is_alive() and trimmer.every_seconds == 0.5
    try:
        assert heap.trim_in_this_process(0.5) is trimmer  # a worker pool in the same process adds none
    finally:
        trimmer.stop()
    monkeypatch.setattr(heap, "_process_trimmer", None)
    assert heap.trim_in_this_process(0) is None


ARENAS_OF_EIGHT_THREADS = """
import ctypes, sys, threading
from removal.ops import heap
heap.limit_arenas(int(sys.argv[1]))
c = ctypes.CDLL(None)
c.malloc.restype, c.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
together = threading.Barrier(8)
def request_thread():
    c.malloc(1000)
    together.wait()  # all eight hold memory at once, as concurrent requests do
threads = [threading.Thread(target=request_thread) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
c.malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def arenas_used(limit: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_OF_EIGHT_THREADS, str(limit)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.count("Arena ")


def test_threads_share_the_arenas_heap_arenas_allows_where_glibc_alone_gives_each_its_own() -> None:
    if heap._mallopt() is None:
        require_or_skip("this C library has no mallopt")
    assert arenas_used(0) > 4, "glibc's default: a new arena for each new thread"
    assert arenas_used(2) <= 2


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def test_a_web_process_freezes_what_is_alive_once_started_and_collects_its_garbage_first(settings: Any) -> None:
    settings.EMBEDDED_WORKERS, settings.HEAP_TRIM_SECONDS = 0, 0
    kept = Node()
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, str]:
        return next(messages)

    async def send(message: dict[str, str]) -> None:
        pass

    gc.unfreeze()
    gc.disable()  # no collection on its own before the start-up's
    try:
        garbage = weakref.ref(Node())
        asyncio.run(EmbeddedWorkers()({"type": "lifespan"}, receive, send))
        assert garbage() is None  # collected, not frozen
        assert gc.get_freeze_count() > 10_000 and not any(found is kept for found in gc.get_objects())
    finally:
        gc.unfreeze()  # this test process's objects back in the collector's sight
        gc.enable()


CUTOUT_LIKE_CYCLES = """
import ctypes, resource, sys
from removal.ops import heap
if sys.argv[1] == "kept":
    assert heap.keep_freed_blocks()
c = ctypes.CDLL(None)
c.malloc.restype, c.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
c.free.argtypes = [ctypes.c_void_p]
c.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
def cutout_like():  # a 1280x960 cutout's arrays: a few blocks of about 5 MB, all freed at its end
    blocks = [c.malloc(5 * 2**20) for _ in range(4)]
    for block in blocks:
        c.memset(block, 1, 5 * 2**20)
    for block in blocks:
        c.free(block)
for _ in range(3):
    cutout_like()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cutout_like()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults_of_20_cycles(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CUTOUT_LIKE_CYCLES, mode], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_a_process_keeps_the_blocks_a_cutout_freed_for_the_next_instead_of_faulting_them_in_again() -> None:
    if heap._mallopt() is None:
        require_or_skip("this C library has no mallopt")
    pages_of_a_cycle = 20 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert page_faults_of_20_cycles("glibc") > 10 * pages_of_a_cycle, "glibc's sliding thresholds: handed back"
    assert page_faults_of_20_cycles("kept") < pages_of_a_cycle // 4
