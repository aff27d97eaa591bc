"""From a model's mask to a cutout's alpha and colours, the same for every model.

A segmentation model's mask, scaled up from its small input, is soft where it
should be sure and faint where it should be empty: a haze of low values over
the background (which stretches any crop box to the whole photo), specks far
from the subject, and pinholes in it. This module cleans that mask and takes
the background's colour out of the subject's soft edge pixels. No Django here:
the pipeline calls `refine_alpha` and `decontaminate` for every image.

Each step is a lever measured on real photographs with true alpha
(`make quality`, docs/quality.md, which also lists the levers measured and dropped).
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclass(frozen=True)
class Refinement:
    """Which clean-up steps run on a mask, with their strengths."""

    # Alpha at or below `snap_low` becomes 0, at or above `snap_high` 255, linear between.
    snap_low: int = 40
    snap_high: int = 190
    # Connected pieces of the subject smaller than this share of the largest are dropped,
    # with every faint pixel not connected to a kept piece.
    keep_share: float = 0.1
    # Holes inside the confident subject smaller than this share of it are filled.
    hole_share: float = 0.001


DEFAULT = Refinement()
NONE = Refinement(snap_low=0, snap_high=255, keep_share=0.0, hole_share=0.0)
CONFIDENT = 128
# Shrinking a large photo to a small working copy: a fast box reduce first, then the filter
# (Pillow's reducing_gap; a third of the time at 12 MP, the same working copy to within a level).
REDUCING_GAP = 3.0


def refine_alpha(alpha: np.ndarray, refinement: Refinement = DEFAULT) -> np.ndarray:
    """The cleaned alpha (uint8) for a model's mask `alpha`.

    Which pieces to keep and which holes to fill is decided on a copy at most
    `TOPOLOGY_SIDE` pixels long (a model's mask has no finer detail than its
    input), and applied to the full-size alpha.
    """
    alpha = snap(alpha, refinement.snap_low, refinement.snap_high)
    if refinement.keep_share <= 0 and refinement.hole_share <= 0:
        return alpha
    height, width = alpha.shape
    small = np.asarray(_shrunk(Image.fromarray(alpha), _working_size(alpha, TOPOLOGY_SIDE)[0]))
    if refinement.keep_share > 0:
        kept = ndimage.binary_dilation(connected_to_subject(small, refinement.keep_share))
        alpha = np.where(_full_size(kept, (width, height)), alpha, 0).astype(np.uint8)
    if refinement.hole_share > 0:
        holes = ndimage.binary_dilation(small_holes(small, refinement.hole_share))
        alpha = np.where(_full_size(holes, (width, height)), 255, alpha).astype(np.uint8)
    return alpha


TOPOLOGY_SIDE = 512


def snap(alpha: np.ndarray, low: int, high: int) -> np.ndarray:
    """Near-empty to 0, near-full to 255, a straight line between."""
    if low <= 0 and high >= 255:
        return alpha
    table = np.clip((np.arange(256) - low) * 255.0 / max(high - low, 1), 0, 255).round().astype(np.uint8)
    return table[alpha]


def connected_to_subject(alpha: np.ndarray, keep_share: float) -> np.ndarray:
    """The visible pixels connected to a confident piece at least `keep_share` of the largest."""
    confident_labels, count = ndimage.label(alpha >= CONFIDENT)
    if count == 0:
        return np.zeros(alpha.shape, dtype=bool)
    areas = np.bincount(confident_labels.ravel())[1:]
    kept_labels = np.flatnonzero(areas >= keep_share * areas.max()) + 1
    visible_labels, _ = ndimage.label(alpha > 0)
    kept_visible = np.unique(visible_labels[np.isin(confident_labels, kept_labels)])
    return np.isin(visible_labels, kept_visible[kept_visible > 0])


def small_holes(alpha: np.ndarray, hole_share: float) -> np.ndarray:
    """The holes enclosed by the confident subject smaller than `hole_share` of it (a pinhole,
    not the gap under an arm)."""
    confident = alpha >= CONFIDENT
    holes = ndimage.binary_fill_holes(confident) & ~confident
    hole_labels, count = ndimage.label(holes)
    if count == 0:
        return holes
    areas = np.bincount(hole_labels.ravel())[1:]
    return np.isin(hole_labels, np.flatnonzero(areas < hole_share * confident.sum()) + 1)


def _working_size(alpha: np.ndarray, side: int) -> tuple[tuple[int, int], float]:
    """The (width, height) of a working copy at most `side` pixels long, and its scale."""
    height, width = alpha.shape
    scale = min(1.0, side / max(width, height))
    return (max(1, round(width * scale)), max(1, round(height * scale))), scale


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)


def _full_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if mask.shape[::-1] == size:
        return mask
    return np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))


def decontaminate(rgb: Image.Image, alpha: np.ndarray) -> Image.Image:
    """The photo with its soft edge pixels' colours freed of the background behind them.

    A pixel on a soft edge is a mix, alpha * F + (1 - alpha) * B. Forte and
    Pitié's blur-fusion estimate (ICIP 2021) takes the local subject colour F
    and background colour B as means weighted by alpha and by 1 - alpha (here
    raised to a power, to favour pure pixels), and corrects F by what the mix
    leaves unexplained. The means are smooth, so they are taken on a copy at
    most `BLUR_SIDE` pixels long. Only pixels with 0 < alpha < 255 change.
    """
    rows, cols = np.nonzero((alpha > 0) & (alpha < 255))
    if rows.size == 0:
        return rgb
    photo = np.asarray(rgb)
    colour = photo[rows, cols].astype(np.float32) / 255
    weight = (alpha[rows, cols].astype(np.float32) / 255)[:, None]
    subject, background = _local_means(rgb, alpha, rows, cols)
    subject = np.clip(subject + weight * (colour - weight * subject - (1 - weight) * background), 0, 1)
    colours = photo.copy()
    colours[rows, cols] = (subject * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(colours)


# The means of decontaminate: on a copy this long, over windows this wide (an eighth of the photo's
# long side), each pixel weighted by alpha (or 1 - alpha) to this power, so that the nearest pure
# subject and background pixels dominate. Measured on the composites and on a wide soft edge over
# green (tests/cutout/test_refine.py): a narrow window or plain weights leave a wide edge's colour mixed.
BLUR_SIDE, BLUR_WINDOW, PURITY_POWER = 320, 41, 4


def _local_means(
    rgb: Image.Image, alpha: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mean colours of subject and of background around the given pixels."""
    small_size, scale = _working_size(alpha, BLUR_SIDE)
    photo = np.asarray(_shrunk(rgb, small_size), dtype=np.float32) / 255
    weight = np.asarray(_shrunk(Image.fromarray(alpha), small_size), dtype=np.float32) / 255
    means = []
    for plane_weight in (weight**PURITY_POWER, (1 - weight) ** PURITY_POWER):
        total = ndimage.uniform_filter(plane_weight, BLUR_WINDOW)[..., None]
        weighted = ndimage.uniform_filter(photo * plane_weight[..., None], (BLUR_WINDOW, BLUR_WINDOW, 1))
        means.append(weighted / np.maximum(total, 1e-4))
    small_rows = np.minimum((rows * scale).astype(int), small_size[1] - 1)
    small_cols = np.minimum((cols * scale).astype(int), small_size[0] - 1)
    return means[0][small_rows, small_cols], means[1][small_rows, small_cols]
