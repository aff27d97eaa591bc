"""One image's work spread over the machine's cores while they would otherwise idle.

Used where the work is C code that releases the GIL on large arrays (zlib-ng's deflate, NumPy,
Pillow): the cutout's PNG strips, the decontamination's bands and the model's resizes, and stages
overlapped with each other (`beside`). The caller and the pool's threads take the parts in turn, so
parts of uneven cost (a strip of background deflates far faster than one of the subject) still keep
every core busy to the end.

Only while fewer cutouts are in progress in the process than it has cores (`counted_in_progress`,
which pipeline.cut_out holds): when every core has a cutout of its own (two workers on two cores),
handing parts to other threads only adds switches, and each cutout does its own work in turn. Measured
in-process on 50 photos at 1280x960, two threads on two cores: 9.46-9.49 images/s in turn, against
8.93-9.14 spread; one image alone: 194 ms spread, against 219 ms in turn.
"""

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

CORES = os.cpu_count() or 1
_pool = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-core")
_beside = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-beside")


class _Count:
    """A number of things under way in this process, each counted for as long as its `with` block runs."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self.value += 1
        try:
            yield
        finally:
            with self._lock:
                self.value -= 1


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
    """The cutouts in progress, or the synchronous calls awaiting theirs, whichever are more: when two calls arrive
    together, the first one's cutout starts before the second is queued, and should not take every core for its model
    run (the solo session) only to share them with the second a few milliseconds later."""
    return max(_in_progress.value, _awaited.value)


def _cores_idle() -> bool:
    return _in_progress.value < CORES


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
