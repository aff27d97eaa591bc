"""bench.quality and bench.realphotos: the targets `make quality` holds the served default to, and the photo check."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import quality, realphotos
from bench.common import REPO
from tests.conftest import photo_path

MET = {"iou": 0.85, "mae": 12.0, "residue": 1.5, "crop_iou": 0.96, "ms_per_image": 100.0}


def summaries(fast: dict[str, float], best: dict[str, float], raw: dict[str, float]) -> dict[str, Any]:
    return {"fast": {"all": fast}, "best": {"all": best}, "raw": {"all": raw | {"ms_per_image": None}}}


def test_every_target_is_met_by_figures_that_meet_it() -> None:
    best = MET | {"iou": 0.87, "mae": 9.5, "ms_per_image": 390.0}
    verdicts = quality.target_verdicts(summaries(MET, best, MET | {"residue": 5.0, "crop_iou": 0.7}))
    assert verdicts and all(holds for _, holds in verdicts)


@pytest.mark.parametrize(
    ("fast", "best", "missed"),
    [
        (MET | {"residue": 2.5}, None, "background residue at most 2 %"),
        (MET | {"crop_iou": 0.9}, None, "crop-box IoU at least 0.95"),
        (MET | {"iou": 0.84}, None, "IoU no worse than the raw mask"),
        (MET | {"mae": 12.5}, None, "alpha MAE no worse than the raw mask"),
        (MET, MET | {"iou": 0.86, "mae": 9.5}, "best: IoU at least served default + 0.015"),
        (MET, MET | {"iou": 0.87, "mae": 10.5}, "best: alpha MAE at most served default - 2"),
        (MET, MET | {"iou": 0.87, "mae": 9.5, "ms_per_image": 401.0}, "best: at most 4x"),
    ],
)
def test_a_missed_target_is_reported_as_missed(
    fast: dict[str, float], best: dict[str, float] | None, missed: str
) -> None:
    best = best or MET | {"iou": 0.87, "mae": 9.5}
    verdicts = dict(quality.target_verdicts(summaries(fast, best, MET)))
    assert [name for name, holds in verdicts.items() if not holds] == [name for name in verdicts if missed in name]


def test_an_int8_copy_is_held_to_its_model() -> None:
    rows = [
        {"model": "u2net", "mean_iou": 0.91, "alpha_mae": 9.0},
        {"model": "u2net-int8", "mean_iou": 0.90, "alpha_mae": 9.2},
        {"model": "u2netp", "mean_iou": 0.90, "alpha_mae": 9.0},
        {"model": "u2netp-int8", "mean_iou": 0.899, "alpha_mae": 9.1},
    ]
    verdicts = quality.int8_guard(rows)
    assert [(line.split("`")[1], holds) for line, holds in verdicts] == [("u2net-int8", False), ("u2netp-int8", True)]


def one_photo_set(folder: Path, *, alpha_sha256: str | None = None) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "alpha").mkdir()
    image = photo_path("astronaut.png").read_bytes()
    (folder / "images" / "people-test-1.jpg").write_bytes(image)
    (folder / "alpha" / "people-test-1.png").write_bytes(photo_path("horse.png").read_bytes())
    entry = {
        "id": "people-test-1",
        "category": "people",
        "description": "astronaut",
        "truth": "mask",
        "sha256_image": hashlib.sha256(image).hexdigest(),
        "sha256_alpha": alpha_sha256 or hashlib.sha256(photo_path("horse.png").read_bytes()).hexdigest(),
    }
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps([entry]))
    return manifest


def test_the_photo_set_is_checked_file_by_file(tmp_path: Path) -> None:
    manifest = one_photo_set(tmp_path / "good")
    (photo,) = realphotos.load(tmp_path / "good", manifest)
    assert (photo.id, photo.category, photo.trimap) == ("people-test-1", "people", False)
    tampered = one_photo_set(tmp_path / "bad", alpha_sha256="0" * 64)
    with pytest.raises(realphotos.PhotosMissing, match="differs from the manifest"):
        realphotos.load(tmp_path / "bad", tampered)


def test_make_quality_stops_with_a_message_when_the_photos_are_missing(tmp_path: Path) -> None:
    env = {**os.environ, "QUALITY_PHOTOS": str(tmp_path)}
    finished = subprocess.run(
        [sys.executable, "-m", "bench.quality"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 2
    assert f"put the real-photo set (bench/realphotos/SOURCES.md) in {tmp_path}" in finished.stdout
