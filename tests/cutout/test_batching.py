"""removal.cutout.batching: inputs from several threads run at once, each caller gets its output or the error."""

import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from removal.cutout.batching import BatchRunner


def square_rows(batch: np.ndarray) -> np.ndarray:
    """A stand-in model that fails on NaN, as a model run fails on a bad input."""
    if np.isnan(batch).any():
        raise ValueError("the model cannot run NaN")
    return batch**2


def in_threads(call: Callable[[np.ndarray], np.ndarray], inputs: list[np.ndarray]) -> list[object]:
    """`call` on each input, all at once from threads of their own: each one's output, or its exception."""
    results: list[object] = [None] * len(inputs)

    def one(index: int) -> None:
        try:
            results[index] = call(inputs[index])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a caller never got its answer"
    return results


def rows(count: int) -> list[np.ndarray]:
    return [np.full((1, 3), float(index)) for index in range(count)]


def test_callers_waiting_together_run_as_one_batch_and_each_gets_its_own_output() -> None:
    # The wait is long so that all four are waiting before it runs; it runs as soon as the batch is full.
    runner = BatchRunner(square_rows, max_batch=4, wait_seconds=10)
    started = time.monotonic()
    outputs = in_threads(runner.run, rows(4))
    assert time.monotonic() - started < 5
    assert runner.batch_sizes == Counter({4: 1})
    for index, output in enumerate(outputs):
        assert isinstance(output, np.ndarray)
        assert output.shape == (1, 3) and (output == index**2).all()


def test_more_callers_than_a_batch_holds_run_in_several_batches() -> None:
    runner = BatchRunner(square_rows, max_batch=3, wait_seconds=0.2)
    before = threading.active_count()
    outputs = in_threads(runner.run, rows(7))
    assert [float(output[0, 0]) for output in outputs] == [index**2 for index in range(7)]  # type: ignore[index]
    assert max(runner.batch_sizes) <= 3 and sum(size * n for size, n in runner.batch_sizes.items()) == 7
    assert threading.active_count() == before, "the runner keeps no thread of its own"


def test_a_lone_caller_waits_no_longer_than_the_wait() -> None:
    runner = BatchRunner(square_rows, max_batch=8, wait_seconds=0.05)
    started = time.monotonic()
    assert runner.run(np.full((1, 3), 3.0))[0, 0] == 9
    assert time.monotonic() - started < 1
    assert runner.batch_sizes == Counter({1: 1})


def test_a_failed_run_reaches_every_caller_of_its_batch_and_the_next_batch_works() -> None:
    runner = BatchRunner(square_rows, max_batch=3, wait_seconds=10)
    inputs = rows(3)
    inputs[1] = np.full((1, 3), np.nan)  # one bad input fails the whole run
    results = in_threads(runner.run, inputs)
    assert all(isinstance(result, ValueError) and "cannot run NaN" in str(result) for result in results), results

    outputs = in_threads(runner.run, rows(3))
    assert [float(output[0, 0]) for output in outputs] == [0, 1, 4]  # type: ignore[index]
    assert runner.batch_sizes == Counter({3: 2})


def test_a_caller_whose_input_cannot_join_the_batch_gets_the_error() -> None:
    runner = BatchRunner(square_rows, max_batch=2, wait_seconds=10)
    results = in_threads(runner.run, [np.zeros((1, 3)), np.zeros((1, 4))])  # the shapes do not stack
    assert all(isinstance(result, ValueError) for result in results), results
    assert runner.batch_sizes == Counter({2: 1})
