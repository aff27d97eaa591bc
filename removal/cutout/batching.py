"""Inputs from many threads run through one model together: the shared layout's batches (ORT_LAYOUT=shared).

A caller hands in its model input (a batch of one) and gets back its own slice
of the output. Callers that wait at the same time run as one batch: the first
of them leads, waits until `max_batch` inputs are waiting or the oldest has
waited `wait_seconds`, runs the batch, hands every caller its output (or the
run's exception), and passes the lead to a caller still waiting. There is no
thread of its own, so nothing to start or stop. No Django here.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Waiting:
    model_input: np.ndarray
    arrived: float = field(default_factory=time.monotonic)
    output: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


class BatchRunner:
    """Runs `run_batch` (inputs stacked on the first axis in, outputs on the same axis out) for many threads."""

    def __init__(self, run_batch: Callable[[np.ndarray], np.ndarray], *, max_batch: int, wait_seconds: float) -> None:
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        # How many batches of each size have run: what tests and operators look at to see batching happen.
        self.batch_sizes: Counter[int] = Counter()
        self._run_batch = run_batch
        self._changed = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._led = False

    def run(self, model_input: np.ndarray) -> np.ndarray:
        """`run_batch`'s output for `model_input` alone, computed in a batch with whatever else is waiting."""
        mine = _Waiting(model_input)
        with self._changed:
            self._waiting.append(mine)
            self._changed.notify_all()  # a leader gathering a batch counts this one
            while not mine.done and self._led:
                self._changed.wait()
            leading = not mine.done
            self._led = self._led or leading
        if leading:
            self._lead_until_done(mine)
        if mine.error is not None:
            raise mine.error
        assert mine.output is not None
        return mine.output

    def _lead_until_done(self, mine: _Waiting) -> None:
        try:
            while not mine.done:  # inputs queued before this one go first
                self._run_next_batch()
        finally:
            with self._changed:
                self._led = False
                self._changed.notify_all()  # a caller still waiting takes the lead

    def _run_next_batch(self) -> None:
        with self._changed:
            deadline = self._waiting[0].arrived + self.wait_seconds
            while len(self._waiting) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        try:
            outputs = self._run_batch(np.concatenate([waiting.model_input for waiting in batch]))
            for index, waiting in enumerate(batch):
                waiting.output = outputs[index : index + 1]
        except BaseException as exc:  # every caller of this batch gets it; the next batch runs as usual
            for waiting in batch:
                waiting.error = exc
        with self._changed:
            for waiting in batch:
                waiting.done = True
            self.batch_sizes[len(batch)] += 1
            self._changed.notify_all()
