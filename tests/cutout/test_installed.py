"""The weights installed under the model folder (removal.cutout.installed)."""

import hashlib
import shutil
from pathlib import Path

import pytest

from removal.cutout import installed
from tests.conftest import REPO

CACHED = REPO / ".cache" / "u2net"


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder holding u2netp's fp32 weights, in a process that has read no weights yet."""
    monkeypatch.setattr(installed, "_sha256_first_read", {})
    shutil.copyfile(CACHED / "u2netp.onnx", tmp_path / "u2netp.onnx")
    return tmp_path


def test_the_weights_sha256_is_of_their_bytes_and_none_while_not_installed(model_dir: Path) -> None:
    expected = hashlib.sha256((CACHED / "u2netp.onnx").read_bytes()).hexdigest()
    assert installed.weights_sha256(model_dir, "u2netp") == expected
    assert installed.weights_sha256(model_dir, "u2net") is None


def test_the_weights_sha256_is_of_the_weights_as_this_process_first_read_them(model_dir: Path) -> None:
    """A process's sessions run the weights they loaded until it restarts: what it says it runs does not follow a file
    replaced under it, nor does a name installed later stay unknown."""
    first = installed.weights_sha256(model_dir, "u2netp")
    shutil.copyfile(CACHED / "u2netp-int8.onnx", model_dir / "u2netp.onnx")
    assert installed.weights_sha256(model_dir, "u2netp") == first
    shutil.copyfile(CACHED / "u2netp-int8.onnx", model_dir / "u2netp-int8.onnx")
    assert installed.weights_sha256(model_dir, "u2netp-int8") not in {None, first}
