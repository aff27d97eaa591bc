"""bgsite's cutout of a photo, and how its alpha compares with the true alpha: the figures `make quality` reports.

The figures take two uint8 arrays of the same shape (0-255): the cutout's alpha and the truth.
"""

import io
import os
import statistics
import time
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from bench.common import MODEL_DIR
from bench.realphotos import Photo
from removal.cutout import pipeline
from removal.cutout.options import Options

SUBJECT = 128  # alpha above this counts as subject for IoU
VISIBLE = 16  # alpha at or above this is visible: background residue
OPAQUE = 240  # alpha below this inside the subject is a hole
UNKNOWN = 128  # a trimap's border: neither subject nor background
EDGE_BAND = 0.01  # the edge band reaches this share of the image's diagonal either side of the true edge


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    predicted, actual = alpha >= SUBJECT, truth >= SUBJECT
    union = np.logical_or(predicted, actual).sum()
    return float(np.logical_and(predicted, actual).sum() / union) if union else 1.0


def edge_band(truth: np.ndarray) -> np.ndarray:
    """Pixels near the true subject's outline, or partly transparent in the truth."""
    subject = truth >= SUBJECT
    reach = max(1, round(EDGE_BAND * float(np.hypot(*truth.shape))))
    near = ndimage.binary_dilation(subject, iterations=reach) & ~ndimage.binary_erosion(subject, iterations=reach)
    return near | ((truth > 0) & (truth < 255))


def box(alpha: np.ndarray, threshold: int = 1) -> tuple[int, int, int, int] | None:
    return Image.fromarray(np.asarray(alpha) >= threshold).getbbox()


def box_iou(first: tuple[int, int, int, int] | None, second: tuple[int, int, int, int] | None) -> float:
    if first is None or second is None:
        return float(first == second)
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    overlap = max(width, 0) * max(height, 0)
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (first, second)]
    return overlap / (sum(areas) - overlap)


def score(alpha: np.ndarray, truth: np.ndarray, *, trimap: bool = False) -> dict[str, float]:
    """Every figure for one image. The crop box is what `crop=true` cuts to: every pixel with alpha > 0;
    the true box holds the truth's visible pixels. A trimap's unknown border (128) counts nowhere."""
    error = np.abs(alpha.astype(np.int16) - truth.astype(np.int16))
    counted = truth != UNKNOWN if trimap else np.ones(truth.shape, dtype=bool)
    background, subject = truth == 0, truth == 255
    return {
        "iou": iou(alpha[counted], truth[counted]),
        "mae": float(error[counted].mean()),
        "edge_mae": float(error[edge_band(truth) & counted].mean()),
        "residue": float((alpha[background] >= VISIBLE).mean() * 100) if background.any() else 0.0,
        "holes": float((alpha[subject] < OPAQUE).mean() * 100) if subject.any() else 0.0,
        "crop_iou": box_iou(box(alpha), box(truth, VISIBLE)),
    }


FIGURES = ("iou", "mae", "edge_mae", "residue", "holes", "crop_iou")


def mean_scores(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {figure: statistics.mean(row[figure] for row in rows) for figure in FIGURES}


# The second model quality=best averages in, as the server's QUALITY_BEST_PARTNER setting.
BEST_PARTNER = os.environ.get("QUALITY_BEST_PARTNER", "u2net-int8")


def cut_out_alpha(data: bytes, model: str, quality: str) -> tuple[np.ndarray, float, float | None]:
    """The alpha of bgsite's cutout of `data` with `model` and the preset `quality`, the seconds it took,
    and the cutout's confidence."""
    session = pipeline.thread_session(model, MODEL_DIR)
    partner = pipeline.best_partner(quality, model, BEST_PARTNER, MODEL_DIR)
    started = time.perf_counter()
    options = Options(quality=quality)
    cutout = pipeline.cut_out(
        data, session=session, max_pixels=50_000_000, compress_level=1, options=options, partner=partner
    )
    seconds = time.perf_counter() - started
    return np.asarray(Image.open(io.BytesIO(cutout.data)).getchannel("A")), seconds, cutout.confidence


def scored_cutout(photo: Photo, model: str, quality: str) -> dict[str, Any]:
    """One photo's cutout with `model` and `quality`, scored: its figures, time and confidence."""
    alpha, seconds, confidence = cut_out_alpha(photo.jpeg, model, quality)
    row = {"id": photo.id, "category": photo.category, "ms": seconds * 1000, "confidence": confidence}
    return row | score(alpha, photo.truth, trimap=photo.trimap)
