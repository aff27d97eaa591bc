"""removal.cutout.cores: parts spread over idle cores in turn, in the calling thread once every core has a cutout."""

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from removal.cutout import cores


@pytest.fixture
def two_cores_or_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """At least two cores as cores counts them (a 1-core machine's pools still run the second one's parts)."""
    monkeypatch.setattr(cores, "CORES", max(cores.CORES, 2))


@contextmanager
def every_core_busy() -> Iterator[None]:
    """As many cutouts in progress as the machine has cores."""
    with ExitStack() as stack:
        for _ in range(cores.CORES):
            stack.enter_context(cores.counted_in_progress())
        yield


def thread_of(part: int) -> tuple[int, str]:
    time.sleep(0.01)  # long enough for a pool thread to take some of the parts
    return part, threading.current_thread().name


@pytest.mark.usefixtures("two_cores_or_more")
def test_parts_come_back_in_order_taken_by_the_caller_and_the_pool_while_a_core_is_idle() -> None:
    done = cores.each_on_a_core(thread_of, list(range(12)))
    assert [part for part, _ in done] == list(range(12))
    threads = {name for _, name in done}
    assert threading.current_thread().name in threads and len(threads) > 1


def test_with_a_cutout_on_every_core_each_part_runs_in_the_calling_thread() -> None:
    with every_core_busy():
        done = cores.each_on_a_core(thread_of, list(range(6)))
        beside = cores.beside(threading.current_thread)
        assert beside.done() and beside.result() is threading.current_thread()
    assert done == [(part, threading.current_thread().name) for part in range(6)]


@pytest.mark.usefixtures("two_cores_or_more")
def test_beside_runs_on_another_thread_while_a_core_is_idle() -> None:
    with cores.counted_in_progress():  # one cutout on a machine of several cores
        assert cores.beside(threading.current_thread).result() is not threading.current_thread()


@pytest.mark.usefixtures("two_cores_or_more")
def test_parts_run_in_the_calling_thread_for_a_moment_after_every_core_had_a_cutout() -> None:
    # Two clients' calls: one answered, its client about to send the next; the other's cutout goes on alone meanwhile.
    with every_core_busy():
        pass
    with cores.counted_in_progress():
        done = cores.each_on_a_core(thread_of, list(range(6)))
        beside = cores.beside(threading.current_thread)
    assert done == [(part, threading.current_thread().name) for part in range(6)]
    assert beside.result() is threading.current_thread()


@pytest.mark.usefixtures("two_cores_or_more")
def test_parts_spread_again_once_the_crowd_is_past(monkeypatch: pytest.MonkeyPatch) -> None:
    with every_core_busy():
        pass
    monkeypatch.setattr(cores, "CROWDED_MEMORY_SECONDS", 0.0)
    with cores.counted_in_progress():
        done = cores.each_on_a_core(thread_of, list(range(12)))
    assert len({name for _, name in done}) > 1


def test_an_error_in_a_part_reaches_the_caller() -> None:
    def fail_on_three(part: int) -> int:
        if part == 3:
            raise ValueError("part 3")
        return part

    with pytest.raises(ValueError, match="part 3"):
        cores.each_on_a_core(fail_on_three, list(range(6)))


@pytest.mark.usefixtures("two_cores_or_more")
def test_later_work_runs_beside_once_started_and_in_the_caller_if_never_started() -> None:
    with cores.counted_in_progress():
        started = cores.Later(threading.current_thread)
        started.start()
        assert started.result() is not threading.current_thread()
        assert cores.Later(threading.current_thread).result() is threading.current_thread()
