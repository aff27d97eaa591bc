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
