"""scripts/quantize_model.py: the int8 copy is made only from the bundled u2netp, once."""

import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "quantize_model.py"


def run(model_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(model_dir)], capture_output=True, text=True, check=False)


def test_refuses_weights_that_are_not_the_bundled_u2netp(tmp_path: Path) -> None:
    (tmp_path / "u2netp.onnx").write_bytes(b"not the model")
    done = run(tmp_path)
    assert done.returncode == 1
    assert "not the bundled u2netp" in done.stderr
    assert not (tmp_path / "u2netp-int8.onnx").exists()


def test_leaves_an_existing_copy_alone(tmp_path: Path) -> None:
    shutil.copy(settings.U2NET_HOME / "u2netp.onnx", tmp_path / "u2netp.onnx")
    (tmp_path / "u2netp-int8.onnx").write_bytes(b"made earlier")
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "present" in done.stdout
    assert (tmp_path / "u2netp-int8.onnx").read_bytes() == b"made earlier"
