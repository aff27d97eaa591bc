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

from removal.cutout import cores, views


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
    snapped = snap(alpha, refinement.snap_low, refinement.snap_high)
    if refinement.keep_share <= 0 and refinement.hole_share <= 0:
        return snapped
    alpha = snapped if snapped is not alpha else alpha.copy()  # cleaned in place below, never the caller's
    height, width = alpha.shape
    small = np.asarray(_shrunk(Image.fromarray(alpha), _working_size(alpha.shape, TOPOLOGY_SIDE)[0]))
    rows, cols = _nearest(small.shape[0], height), _nearest(small.shape[1], width)
    # The holes are found on another thread while the pieces are: each is mostly NumPy and SciPy calls that
    # hold the GIL on small arrays, but their labellings release it (together in 3.5 ms, not 6, at 1280x960).
    found_holes = (
        cores.beside(_dilated_small_holes, small, refinement.hole_share) if refinement.hole_share > 0 else None
    )
    if refinement.keep_share > 0:
        kept = ndimage.binary_dilation(connected_to_subject(small, refinement.keep_share))
        np.multiply(alpha, np.take(kept[rows], cols, axis=1), out=alpha)
    if found_holes is not None:
        holes = found_holes.result()
        if holes.any():  # filled within the holes' box only: they are small
            hole_rows, hole_cols = np.nonzero(holes)
            top, bottom = np.searchsorted(rows, [hole_rows.min(), hole_rows.max() + 1])
            left, right = np.searchsorted(cols, [hole_cols.min(), hole_cols.max() + 1])
            alpha[top:bottom, left:right][np.take(holes[rows[top:bottom]], cols[left:right], axis=1)] = 255
    return alpha


TOPOLOGY_SIDE = 512


def _dilated_small_holes(alpha: np.ndarray, hole_share: float) -> np.ndarray:
    """small_holes grown by a pixel: the mask's soft rim round a pinhole is filled too."""
    return ndimage.binary_dilation(small_holes(alpha, hole_share))


def snap(alpha: np.ndarray, low: int, high: int) -> np.ndarray:
    """Near-empty to 0, near-full to 255, a straight line between."""
    if low <= 0 and high >= 255:
        return alpha
    table = np.clip((np.arange(256) - low) * 255.0 / max(high - low, 1), 0, 255).round().astype(np.uint8)
    snapped = Image.fromarray(alpha).point(table.tolist())  # Pillow's lookup: half NumPy's time
    view = views.writable_pixels(snapped)  # the new image's own memory, not a copy of it
    return np.array(snapped) if view is None else view


def connected_to_subject(alpha: np.ndarray, keep_share: float) -> np.ndarray:
    """The visible pixels connected to a confident piece at least `keep_share` of the largest."""
    confident_labels, count = ndimage.label(alpha >= CONFIDENT)
    if count == 0:
        return np.zeros(alpha.shape, dtype=bool)
    areas = np.bincount(confident_labels.ravel())
    kept_confident = areas >= keep_share * areas[1:].max()
    kept_confident[0] = False  # label 0 is what is not confident
    visible_labels, visible_count = ndimage.label(alpha > 0)
    # Label lookups rather than np.isin: the same pixels in a fraction of the time.
    kept_visible = np.zeros(visible_count + 1, dtype=bool)
    kept_visible[visible_labels[kept_confident[confident_labels]]] = True
    kept_visible[0] = False
    return kept_visible[visible_labels]


def small_holes(alpha: np.ndarray, hole_share: float) -> np.ndarray:
    """The holes enclosed by the confident subject smaller than `hole_share` of it (a pinhole,
    not the gap under an arm)."""
    confident = alpha >= CONFIDENT
    # The holes are the pieces of the rest (4-connected, as scipy.ndimage.binary_fill_holes fills) that do
    # not reach the border: one labelling, not a dilation repeated until nothing changes.
    labels, _ = ndimage.label(~confident)
    small = np.bincount(labels.ravel()) < hole_share * confident.sum()
    small[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
    small[0] = False  # label 0 is the confident subject
    return small[labels]


def _working_size(shape: tuple[int, ...], side: int) -> tuple[tuple[int, int], float]:
    """The (width, height) of a working copy at most `side` pixels long of an image of `shape` (height, width),
    and its scale."""
    height, width = shape[:2]
    scale = min(1.0, side / max(width, height))
    return (max(1, round(width * scale)), max(1, round(height * scale))), scale


def _shrunk(image: Image.Image, size: tuple[int, int], reducing_gap: float = REDUCING_GAP) -> Image.Image:
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=reducing_gap)


def _nearest(small: int, full: int) -> np.ndarray:
    """For each of `full` pixels along an axis, the one of `small` that Pillow's NEAREST resize takes."""
    line = Image.fromarray(np.arange(small, dtype=np.int32)[None, :])
    return np.asarray(line.resize((full, 1), Image.Resampling.NEAREST))[0]


def decontaminate(rgb: Image.Image, alpha: np.ndarray) -> Image.Image:
    """The photo with its soft edge pixels' colours freed of the background behind them (see compose)."""
    colours = np.array(rgb.convert("RGBA"))
    _decontaminate_into(colours, _small_photo(rgb), alpha)
    return Image.fromarray(colours).convert("RGB")


@dataclass
class Canvas:
    """What compose needs of a photo that does not depend on its alpha, so that it can be made while the model
    runs (stills.cut_out_still: at 12 MP 40 ms, at 1280x960 2 ms): the photo's colours as RGBA, the alpha yet to
    be put in, and its small copy for decontaminate's means. compose writes the cutout into it: a canvas serves
    one cutout."""

    rgba: Image.Image
    small_photo: np.ndarray


def canvas(rgb: Image.Image) -> Canvas:
    return Canvas(rgb.convert("RGBA"), _small_photo(rgb))


def compose(ready: Canvas, alpha: np.ndarray) -> Image.Image:
    """The RGBA cutout of the photo whose canvas is `ready` (written into: it becomes the cutout's memory) by
    `alpha` (uint8, its size): colour kept unpremultiplied, soft edges decontaminated, and RGB zeroed where alpha
    is 0 (no hidden colour to encode: smaller PNGs).

    Pillow converted the photo and puts in the alpha (its C loops); the colours are zeroed and the soft
    edge pixels rewritten through a NumPy view of the cutout's own memory (removal.cutout.views: no
    full-size copy), a pixel as one 32-bit word.
    """
    cutout = ready.rgba
    cutout.putalpha(Image.fromarray(alpha))
    colours = views.writable_pixels(cutout)
    if colours is None:  # no view of this image's memory: a copy, returned as a new image
        return Image.fromarray(_zeroed_and_decontaminated(np.array(cutout), ready.small_photo, alpha))
    _zeroed_and_decontaminated(colours, ready.small_photo, alpha)
    return cutout


def _zeroed_and_decontaminated(colours: np.ndarray, small_photo: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    np.copyto(colours.reshape(-1).view(np.uint32), 0, where=alpha.reshape(-1) == 0)  # half Pillow's masked paste
    _decontaminate_into(colours, small_photo, alpha)
    return colours


# Per alpha level a (w = a / 255), what each colour weighs in a decontaminated pixel.
OWN_SHARE = np.arange(256, dtype=np.float32) / 255  # the pixel's own colour: w
SUBJECT_SHARE = 1 - OWN_SHARE * OWN_SHARE  # the local subject colour: 1 - w^2
BACKGROUND_SHARE = OWN_SHARE * (1 - OWN_SHARE)  # the local background colour, taken away: w (1 - w)
# Soft pixels are decontaminated band by band, each band's columns from its first soft pixel to its last.
EDGE_BAND_ROWS = 64


def _decontaminate_into(colours: np.ndarray, small_photo: np.ndarray, alpha: np.ndarray) -> None:
    """Rewrite the colour of the soft edge pixels (0 < alpha < 255) in `colours` (RGBA, C-contiguous), in place.

    A pixel on a soft edge is a mix, alpha * F + (1 - alpha) * B. Forte and
    Pitié's blur-fusion estimate (ICIP 2021) takes the local subject colour F
    and background colour B as means weighted by alpha and by 1 - alpha (here
    raised to a power, to favour pure pixels), and corrects F by what the mix
    leaves unexplained. The means are smooth, so they are taken on a copy at
    most `BLUR_SIDE` pixels long (`small_photo`, the photo's). `colours` holds the photo's colours at those
    pixels.
    Pixels are read and written as one 32-bit word each (a 1-D take and put: a sixth of
    the time of NumPy's row indexing).
    """
    soft = (alpha - np.uint8(1)) < 254  # 0 < alpha < 255 (0 wraps round to 255)
    height, width = alpha.shape
    bands = [start for start in range(0, height, EDGE_BAND_ROWS) if soft[start : start + EDGE_BAND_ROWS].any()]
    if not bands:
        return
    subject, background, small_rows, small_cols = _local_means(small_photo, alpha)
    stride = subject.shape[1]
    subject, background = (np.ascontiguousarray(means.reshape(-1, 3).T) for means in (subject, background))
    words = colours.reshape(-1).view(np.uint32)

    def decontaminate_bands(tops: list[int]) -> None:
        for top in tops:
            bottom = min(top + EDGE_BAND_ROWS, height)
            columns = np.flatnonzero(soft[top:bottom].any(axis=0))
            left, right = int(columns[0]), int(columns[-1]) + 1
            band_alpha = alpha[top:bottom, left:right].ravel()
            at = np.flatnonzero((band_alpha - np.uint8(1)) < 254)
            level = band_alpha[at]
            rows, cols = np.divmod(at, right - left)
            rows += top
            cols += left
            means_at = small_rows[rows] * stride + small_cols[cols]
            where = rows * width + cols
            pixels = words.take(where).view(np.uint8).reshape(-1, 4)
            # F + w (C - w F - (1 - w) B), in 0..255 units, as F (1 - w^2) + w C - w (1 - w) B; channel
            # by channel (each a row of n pixels: NumPy's loops run along the n, not along 3 channels).
            colour = np.ascontiguousarray(pixels.T[:3]) * OWN_SHARE[level]
            colour += subject.take(means_at, axis=1) * SUBJECT_SHARE[level]
            colour -= background.take(means_at, axis=1) * BACKGROUND_SHARE[level]
            np.clip(colour, 0, 255, out=colour)
            colour += 0.5
            for channel in range(3):
                pixels[:, channel] = colour[channel]
            words[where] = pixels.view(np.uint32).ravel()

    # Bands in parts of two, each taken by whichever core is free (the bands do not overlap): a core that
    # another stage holds (the mask's PNG) takes fewer.
    cores.each_on_a_core(decontaminate_bands, [bands[start : start + 2] for start in range(0, len(bands), 2)])


# The means of decontaminate: on a copy this long, over windows this wide (an eighth of the photo's
# long side), each pixel weighted by alpha (or 1 - alpha) to this power, so that the nearest pure
# subject and background pixels dominate. Measured on the composites and on a wide soft edge over
# green (tests/cutout/test_refine.py): a narrow window or plain weights leave a wide edge's colour mixed.
# The copy is an area average (a box reduce before the filter: BLUR_REDUCING_GAP), as means should be.
# 160 pixels and a box reduce, against 320 and Pillow's bilinear: the composites' colour error after
# decontamination 26.62 against 26.58 (32.25 before it), and at 1280x960 the means in 2.2 ms, not 10.4.
BLUR_SIDE, BLUR_WINDOW, PURITY_POWER, BLUR_REDUCING_GAP = 160, 21, 4, 1.0


def _small_photo(rgb: Image.Image) -> np.ndarray:
    """The photo's copy at most BLUR_SIDE pixels long, colours 0..1 (float32)."""
    small_size, _ = _working_size((rgb.height, rgb.width), BLUR_SIDE)
    return np.asarray(_shrunk(rgb, small_size, BLUR_REDUCING_GAP), dtype=np.float32) / 255


def _local_means(photo: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mean colours (0..255) of subject and of background on the small copy (`photo`, _small_photo's), and
    for each row and each column of the photo, the small copy's row and column that hold its means."""
    small_size, scale = _working_size(alpha.shape, BLUR_SIDE)
    weight = np.asarray(_shrunk(Image.fromarray(alpha), small_size, BLUR_REDUCING_GAP), dtype=np.float32) / 255
    means = []
    for plane_weight in (weight**PURITY_POWER, (1 - weight) ** PURITY_POWER):
        total = ndimage.uniform_filter(plane_weight, BLUR_WINDOW)[..., None]
        weighted = ndimage.uniform_filter(photo * plane_weight[..., None], (BLUR_WINDOW, BLUR_WINDOW, 1))
        means.append(weighted * 255 / np.maximum(total, 1e-4))
    small_rows = np.minimum((np.arange(alpha.shape[0]) * scale).astype(int), small_size[1] - 1)
    small_cols = np.minimum((np.arange(alpha.shape[1]) * scale).astype(int), small_size[0] - 1)
    return means[0], means[1], small_rows, small_cols
