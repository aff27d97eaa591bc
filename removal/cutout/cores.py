"""One image's work spread over the machine's cores while they would otherwise idle.

Used where the work is C code that releases the GIL on large arrays (zlib-ng's deflate, NumPy,
Pillow): the cutout's PNG strips, the decontamination's bands and the model's resizes, and stages
overlapped with each other (`beside`). The caller and the pool's threads take the parts in turn, so
parts of uneven cost (a strip of background deflates far faster than one of the subject) still keep
every core busy to the end.

Only while fewer cutouts are expected in the process than it has cores (`expected`: those in progress, which
pipeline.cut_out counts, or the synchronous calls awaiting theirs, whichever are more, now or in the last
CROWDED_MEMORY_SECONDS): when every core has a cutout of its own (two workers on two cores), handing parts to other
threads only adds switches, and each cutout does its own work in turn. Measured in-process on 50 photos at 1280x960,
two threads on two cores: 9.46-9.49 images/s in turn, against 8.93-9.14 spread; one image alone: 194 ms spread,
against 219 ms in turn.
"""

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

CORES = os.cpu_count() or 1
_pool = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-core")
_beside = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-beside")


# How long the most cutouts in progress (or calls awaiting theirs) at once still count after the count fell. Two
# clients that each send their next image once the previous reply is in leave one call alone for the 10-55 ms between
# a reply and the next call's admission (measured at c2 on a 2-core Xeon, 2026-12-07); a cutout that then started its
# model run on every core (the solo session) shared them three threads to two with the next call's for the rest of
# its run, slowing both. A lone call a while after the others still gets every core.
CROWDED_MEMORY_SECONDS = 0.5


class _Count:
    """A number of things under way in this process, each counted for as long as its `with` block runs."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()
        self._fell_from: dict[int, float] = {}  # a count, and when the count last fell from it

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self.value += 1
        try:
            yield
        finally:
            with self._lock:
                self._fell_from[self.value] = time.monotonic()
                self.value -= 1

    def recent_peak(self) -> int:
        """The most counted at once, now or in the last CROWDED_MEMORY_SECONDS."""
        since = time.monotonic() - CROWDED_MEMORY_SECONDS
        with self._lock:
            return max([self.value, *(count for count, fell in self._fell_from.items() if fell > since)])


_in_progress = _Count()
# Synchronous calls (/bgremove, /v1.0/removebg) waiting for their cutout, from before it is queued: what will be in
# progress in a moment, when the calls were admitted in this process (the embedded layout's web and workers).
_awaited = _Count()


def counted_in_progress() -> AbstractContextManager[None]:
    """One cutout in progress for as long as the block runs (what ModelSessions and the spreading go by)."""
    return _in_progress.held()


def counted_awaited() -> AbstractContextManager[None]:
    """One cutout awaited by a synchronous call for as long as the block runs (removal.ops.limits.waiting_room)."""
    return _awaited.held()


def expected() -> int:
    """The cutouts in progress, or the synchronous calls awaiting theirs, whichever are more, now or in the last
    CROWDED_MEMORY_SECONDS: when two calls arrive together, the first one's cutout starts before the second is queued,
    and should not take every core for its model run (the solo session) only to share them with the second a few
    milliseconds later; nor should a cutout that starts between a client's reply and its next call."""
    return max(_in_progress.recent_peak(), _awaited.recent_peak())


def _cores_idle() -> bool:
    return expected() < CORES


def beside[**Params, Result](
    function: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs
) -> Future[Result]:
    """`function(*args, **kwargs)` started on another thread, to overlap a stage that holds the GIL in NumPy (the
    mask's clean-up, the colours' decontamination) with one that mostly releases it; run at once in the calling
    thread when no core is idle. Its threads are not the pool's, so `function` may use each_on_a_core."""
    if _cores_idle():
        return _beside.submit(function, *args, **kwargs)
    done: Future[Result] = Future()
    done.set_result(function(*args, **kwargs))
    return done


class Later[Result]:
    """`function(*args)`, started on another thread (`beside`) by `start`, as a session starts the work to overlap
    its model run (u2net.U2netSession.predict's `meanwhile`); run in the calling thread when its result is asked
    for and it was never started (a session that takes no `meanwhile`)."""

    def __init__(self, function: Callable[..., Result], *args: object) -> None:
        self._function, self._args = function, args
        self._started: Future[Result] | None = None

    def start(self) -> None:
        self._started = beside(self._function, *self._args)

    def result(self) -> Result:
        return self._started.result() if self._started else self._function(*self._args)


def each_on_a_core[Part, Result](function: Callable[[Part], Result], parts: Sequence[Part]) -> list[Result]:
    """`function(part)` for every part, results in the parts' order; the calling thread and up to CORES - 1
    pool threads each take the next part not yet taken until none is left.

    `function` must not itself call each_on_a_core (pool threads never wait on the pool).
    """
    if not _cores_idle():
        return [function(part) for part in parts]
    results: list[Result | None] = [None] * len(parts)
    taken = iter(range(len(parts)))
    lock = threading.Lock()

    def take_parts() -> None:
        while True:
            with lock:
                index = next(taken, None)
            if index is None:
                return
            results[index] = function(parts[index])

    helpers = [_pool.submit(take_parts) for _ in range(min(CORES, len(parts)) - 1)]
    take_parts()
    for helper in helpers:
        helper.result()
    return results  # type: ignore[return-value]  # every slot filled above
