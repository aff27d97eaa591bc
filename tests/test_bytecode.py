"""tests/bytecode.py: the processes the suite starts find the project's modules compiled, whatever
PYTHONDONTWRITEBYTECODE says."""

import importlib.util
import struct
from pathlib import Path

import pytest

from tests.bytecode import REPO


@pytest.mark.parametrize(
    "module", ["bgsite/settings.py", "removal/models.py", "accounts/models.py", "client/bgsite_client/__init__.py"]
)
def test_each_module_has_bytecode_made_from_its_current_source(module: str) -> None:
    source = REPO / module
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.exists(), f"{module} is compiled again by every process that imports it"
    # The header of a timestamp-checked .pyc: magic, flags, then the source's modification time and size.
    flags, mtime, size = struct.unpack("<III", cached.read_bytes()[4:16])
    assert flags == 0 and (mtime, size) == (int(source.stat().st_mtime), source.stat().st_size)


def test_pytest_keeps_the_test_modules_it_rewrote() -> None:
    """pytest kept this module as it rewrote it (tests/bytecode.py): each worker rewrote them all at each run."""
    from _pytest.assertion.rewrite import PYC_TAIL

    source = Path(__file__)
    kept = source.parent / "__pycache__" / f"{source.stem}{PYC_TAIL}"
    assert kept.exists(), "pytest rewrites the test modules' asserts again at each run"
    header = kept.read_bytes()[:16]  # magic, flags (3: a hash-checked .pyc), the source's hash
    assert header[8:16] == importlib.util.source_hash(source.read_bytes())
