"""One image's work spread over the machine's cores: when a lone request runs, the other cores would idle.

Used where the work is C code that releases the GIL on large arrays (zlib-ng's deflate, NumPy,
Pillow): the cutout's PNG strips and the decontamination's bands. When every core is already busy
(two workers on two cores), the parts simply queue and the caller does its own share.
"""

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

CORES = os.cpu_count() or 1
_pool = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="cutout-core")


def each_on_a_core[Part, Result](function: Callable[[Part], Result], parts: Sequence[Part]) -> list[Result]:
    """`function(part)` for every part, in order: the first in the calling thread, the others on the pool.

    `function` must not itself call each_on_a_core (pool threads never wait on the pool).
    """
    later = [_pool.submit(function, part) for part in parts[1:]]
    return [function(part) for part in parts[:1]] + [future.result() for future in later]
