"""The C heap kept small: threads share HEAP_ARENAS malloc arenas, whose free pages go back to the
system every HEAP_TRIM_SECONDS (glibc's mallopt and malloc_trim).

Django runs each request's synchronous code in a thread of its own, so a server makes
a thread per call; glibc's malloc serves those threads from up to 8 arenas per core,
and returns what they free to the system only from the top of each arena's heap. The
rest stays resident as free space, more of it the longer the server runs: the soak
(docs/benchmarks.md#back-pressure) saw resident memory climb with the calls served while
neither Python's objects nor malloc's memory in use grew. malloc_trim(0) gives every
whole free page of every arena back (a few milliseconds of CPU); a page used again
later is faulted back in.

Fewer arenas leave less free space behind in the first place: glibc gives each new thread
an arena of its own until there are 8 per core, each keeping its own free fragments; with
HEAP_ARENAS (2) the request threads take turns in the same few, and what one freed the next
reuses. In 3,000-call soaks side by side, RSS after the 1,000th call grew +12.4 % with glibc's
default and +1.4 % with two arenas, and bulk cutouts took no more CPU (docs/benchmarks.md).

Between those trims, the blocks a cutout frees stay in the heap for the next cutout (`keep_freed_blocks`):
glibc's own thresholds slide with the blocks a process frees, and for a process of cutouts they handed the top of a
heap back to the system after most cutouts, for the next one to fault it in again, page by page.

Where the C library has no malloc_trim or mallopt (musl, macOS), nothing is done.

Python's own heap: the objects alive once a process has started (Django, its apps, the modules:
about 100,000) are frozen out of the cyclic collector's sight (`freeze_start_up_objects`).
"""

import ctypes
import functools
import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


# glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# The largest mmap threshold glibc's sliding one reaches on a 64-bit system (DEFAULT_MMAP_THRESHOLD_MAX), and the trim
# threshold it then sets (twice that): what `keep_freed_blocks` fixes them at.
MMAP_THRESHOLD_BYTES = 32 * 2**20
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES


@functools.cache
def _c_function(name: str, argtypes: tuple[Any, ...]) -> Callable[..., int] | None:
    """`name` of the C library this process already runs on, returning an int; None where it has none."""
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = list(argtypes), ctypes.c_int
    return function


def _malloc_trim() -> Callable[[int], int] | None:
    return _c_function("malloc_trim", (ctypes.c_size_t,))


def _mallopt() -> Callable[[int, int], int] | None:
    return _c_function("mallopt", (ctypes.c_int, ctypes.c_int))


def freeze_start_up_objects() -> None:
    """Move the objects alive now out of the cyclic collector's sight (gc.freeze), after a collection (nothing freed
    is kept). A full collection scans every object it tracks while it holds the GIL: with these it took 25-80 ms,
    about once per 60 /bgremove calls, and that call, and every cutout's Python steps beside it, waited; the
    slowest call of a run is what a p99 reads. Frozen, the same collection scans only what came since."""
    gc.collect()
    gc.freeze()


def limit_arenas(count: int) -> bool:
    """Threads started from now on share at most `count` malloc arenas (0: glibc's default); False where
    the C library cannot."""
    mallopt = _mallopt()
    if count <= 0 or mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, count))


def keep_freed_blocks() -> bool:
    """Blocks up to MMAP_THRESHOLD_BYTES come from the arenas' heaps, and a heap's free top goes back to the system
    only past TRIM_THRESHOLD_BYTES (or at the trimmer's malloc_trim); False where the C library cannot.

    glibc's defaults slide: its mmap threshold rises to the largest block freed so far, and its trim threshold to
    twice that. A 1280x960 cutout's largest arrays are about 5 MB, so the trim threshold sat near 10 MB, under what a
    cutout frees at its end: the heap's top went back to the system after most cutouts and the next one faulted it in
    again, about 4,000 pages (16 MB) of each cutout's in a server's worker threads against 400 in a loop of cutouts
    alone. Fixed at glibc's own ceilings: 10,600 page faults in the worker threads over three bulk batches of 50
    instead of 592,000, and bulk batches 3.6 % faster (6.90 against 6.66 images/s, means of 10 batches of 50 photos
    alternated with glibc's defaults on a 2-core AMD EPYC with avx512_vnni). Blocks over 32 MB (a 12 MP photo's float
    arrays) are still mapped and unmapped each time, as before."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def release_free_heap() -> bool:
    """Give the heap's free pages back to the system now; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class HeapTrimmer:
    """A daemon thread that calls release_free_heap every `every_seconds` until stopped."""

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="heap-trimmer", daemon=True)

    def start(self) -> "HeapTrimmer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.every_seconds):
            try:
                release_free_heap()
            except Exception:  # memory kept is not worth a dead thread
                logger.exception("could not trim the heap")


_process_trimmer: HeapTrimmer | None = None
_starting = threading.Lock()


def trim_in_this_process(every_seconds: float) -> HeapTrimmer | None:
    """This process's one trimmer, started on the first call (web server, worker pool alike);
    None when `every_seconds` is 0 or the C library cannot trim."""
    global _process_trimmer
    if every_seconds <= 0 or _malloc_trim() is None:
        return None
    with _starting:
        if _process_trimmer is None:
            _process_trimmer = HeapTrimmer(every_seconds).start()
        return _process_trimmer


def tend_heap(*, trim_every_seconds: float, arenas: int) -> HeapTrimmer | None:
    """What a web or worker process does at start, before its threads: limit the arenas, keep freed blocks for the
    next cutout, start the trimmer."""
    limit_arenas(arenas)
    keep_freed_blocks()
    return trim_in_this_process(trim_every_seconds)
