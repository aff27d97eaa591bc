"""tests/file_order.py: the files handed to pytest-xdist's workers longest first, each file's tests together."""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import file_order


def items(*nodeids: str) -> list[Any]:
    return [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def nodeids(ordered: list[Any]) -> list[str]:
    return [item.nodeid for item in ordered]


def test_the_longest_file_comes_first_and_each_files_tests_stay_together_in_their_order() -> None:
    collected = items("a.py::many1", "a.py::many2", "a.py::many3", "b.py::long1", "b.py::long2", "c.py::short")
    ordered = file_order.longest_first(collected, {"a.py": 30.0, "b.py": 120.0, "c.py": 5.0})
    assert nodeids(ordered) == [
        *("b.py::long1", "b.py::long2"),
        *("a.py::many1", "a.py::many2", "a.py::many3"),
        "c.py::short",
    ]


def test_a_file_not_timed_yet_counts_as_its_tests_at_the_mean_seconds_of_a_test() -> None:
    # A test of a timed file takes 10 s on average (a.py 40 s for 2, b.py 0 s for 2): new.py's 3 tests count 30 s.
    collected = items("a.py::1", "a.py::2", "b.py::1", "b.py::2", "new.py::1", "new.py::2", "new.py::3")
    ordered = file_order.longest_first(collected, {"a.py": 40.0, "b.py": 0.0})
    assert [nodeid.split("::")[0] for nodeid in nodeids(ordered)] == ["a.py"] * 2 + ["new.py"] * 3 + ["b.py"] * 2


def test_pytest_xdist_hands_the_files_out_in_that_order(pytestconfig: pytest.Config) -> None:
    """Not sorted again by their number of tests, as pytest-xdist does unless told otherwise."""
    assert pytestconfig.option.loadscopereorder is False


def test_the_seconds_each_file_took_are_written_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_order, "FILE_SECONDS", tmp_path / "file_seconds.json")
    recorder = file_order.FileSeconds()
    for nodeid, duration in [("b.py::1", 1.26), ("a.py::1", 0.5), ("b.py::1", 2.0), ("a.py::2", 0.04)]:
        recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=duration))  # type: ignore[arg-type]
    recorder.pytest_sessionfinish()
    assert json.loads((tmp_path / "file_seconds.json").read_text()) == {"a.py": 0.5, "b.py": 3.3}
    assert file_order.longest_first(items("a.py::1", "b.py::1"), file_order.known_seconds())[0].nodeid == "b.py::1"
