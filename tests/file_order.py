"""The order the test files are handed to pytest-xdist's workers: the longest first.

`make test` runs the files side by side, each on one worker (--dist loadfile). pytest-xdist hands them out in the
order it is given them, after sorting them by their number of tests: the few-test files that start servers, worker
processes and browsers (a minute or more each) came last, and one worker ran them while the other had nothing left.
Handed out longest first, the last files are short ones and the workers finish together.

What each file took is kept in tests/file_seconds.json; a file it does not know yet counts as its number of tests
times the mean seconds of a test. `TEST_FILE_SECONDS_WRITE=1` on a run of the whole suite writes what that run took.
"""

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

FILE_SECONDS = Path(__file__).with_name("file_seconds.json")
WRITE_VARIABLE = "TEST_FILE_SECONDS_WRITE"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def known_seconds() -> dict[str, float]:
    return json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}


def longest_first(items: list[pytest.Item], seconds: dict[str, float]) -> list[pytest.Item]:
    """`items` with each file's tests together, in their order, the files by what they take, the longest first."""
    tests_in = defaultdict[str, int](int)
    for item in items:
        tests_in[file_of(item.nodeid)] += 1
    known = [seconds[name] / tests_in[name] for name in tests_in if name in seconds]
    per_test = sum(known) / len(known) if known else 1.0

    def expected(item: pytest.Item) -> float:
        name = file_of(item.nodeid)
        return seconds.get(name, tests_in[name] * per_test)

    return sorted(items, key=lambda item: (-expected(item), file_of(item.nodeid)))


class FileSeconds:
    """Adds up, per file, the seconds its tests' set-up, call and tear-down took; written out at the session's end."""

    def __init__(self) -> None:
        self.seconds = defaultdict[str, float](float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self) -> None:
        rounded = {name: round(seconds, 1) for name, seconds in sorted(self.seconds.items())}
        FILE_SECONDS.write_text(json.dumps(rounded, indent=1) + "\n")


def configure(config: pytest.Config) -> None:
    """Hand out the files in the order collection leaves them (longest_first), not by their number of tests; with
    TEST_FILE_SECONDS_WRITE=1, record what each file took (in the process that hands them out)."""
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist is installed
        config.option.loadscopereorder = False
    if os.environ.get(WRITE_VARIABLE) == "1" and not os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(FileSeconds(), "file_seconds")
