"""One image's work spread over the machine's cores: when a lone request runs, the other cores would idle.

Used where the work is C code that releases the GIL on large arrays (zlib-ng's deflate, NumPy,
Pillow): the cutout's PNG strips, the decontamination's bands and the model's resizes. The caller and
the pool's threads take the parts in turn, so parts of uneven cost (a strip of background deflates
far faster than one of the subject) still keep every core busy to the end. When every core is already
busy (two workers on two cores), the pool's threads start late and the caller does most parts itself.
"""

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

CORES = os.cpu_count() or 1
_pool = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-core")
_beside = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-beside")


def beside[**Params, Result](
    function: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs
) -> Future[Result]:
    """`function(*args, **kwargs)` started on another thread, to overlap a stage that holds the GIL in NumPy (the
    mask's clean-up, the colours' decontamination) with one that mostly releases it. Its threads are not the
    pool's, so `function` may use each_on_a_core."""
    return _beside.submit(function, *args, **kwargs)


def each_on_a_core[Part, Result](function: Callable[[Part], Result], parts: Sequence[Part]) -> list[Result]:
    """`function(part)` for every part, results in the parts' order; the calling thread and up to CORES - 1
    pool threads each take the next part not yet taken until none is left.

    `function` must not itself call each_on_a_core (pool threads never wait on the pool).
    """
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
