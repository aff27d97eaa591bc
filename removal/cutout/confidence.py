"""How sure a cutout is: a confidence 0-1 read from the model's own mask, with no ground truth.

A cutout goes wrong on a real photograph in two ways: the model misses part of the
subject, or keeps a piece of the background. Both leave marks on the mask:

- where the model hesitates, its mask is neither 0 nor 255 over a wide band rather
  than along a thin edge: `band_width`, the partly transparent pixels (alpha 10-90 %)
  per pixel of the subject's outline: a width, measured on a copy at most `SIDE`
  pixels long (the model's own resolution, so the figure does not grow with the
  photo's size) and counted in pixels of a copy `SIDE` long (so it does not shrink
  with a photo smaller than that);
- a subject that comes out in several large pieces is often a subject cut in two, or
  the subject plus a piece of background: `split_share`, the share of the subject
  outside its largest piece;
- a subject that fills little of the frame reaches the model as few pixels, so the
  mask's coarse outline costs a large share of it: `area_share`, the subject's share
  of the frame.

`confidence` combines the three in a logistic model, fitted once on the 64 photos of
the real-photo set (bench/realphotos) to "IoU of the served cutout below 0.8", and
reads as the probability that the cutout is right. The research, every signal tried
and the figures are in docs/quality.md.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

SIDE = 320  # U²-Net's input side: a mask holds no finer detail
SUBJECT = 128  # alpha at or above this is the subject (as bench/scores.py counts IoU)
SOFT_LOW, SOFT_HIGH = 26, 229  # partly transparent: alpha between 10 % and 90 %
FLOOR = 1e-3  # keeps the logarithm finite for a mask with no soft pixels

# The logistic model of "the cutout is wrong" (IoU < 0.8) on log(band_width + FLOOR), split_share
# and area_share. Fitted by maximum likelihood with a ridge penalty of 1 on standardised signals
# (Newton's method) on the served u2netp-int8 fast cutouts of the 64 real photos, 21 of them wrong;
# the standardisation is folded into these weights.
INTERCEPT = -1.9519
WEIGHT_BAND = 1.8410
WEIGHT_SPLIT = 9.2409
WEIGHT_AREA = -7.4745

# quality=best averages the model's mask with its mirror image's (and with a partner model's): masks that disagree
# by a pixel along the edge average to a wider soft band than one model's mask, which the weights above were fitted
# on, so they read best's cutouts as less sure than they are (on the 64 photos, mean 0.61 with the partner against
# 73 % of them right; 47 of 64). This shift of the intercept for each number of masks averaged, fitted by maximum
# likelihood on those photos' best cutouts with the three weights kept, brings the mean back to the share right.
# The order of the photos is unchanged (AUROC for best's own wrong cutouts: 0.896 with the partner, 0.922 without).
SHIFT_FOR_MASKS_AVERAGED = {1: 0.0, 2: 0.460, 3: 0.994}

# A cutout whose subject fills less of its frame than this found nothing: what a model keeps of a photo without a
# subject is specks (a lawn: 0.08 %, a plain grey wall: 0.007 %), where the smallest subject of the 64 real photos
# fills 2.3 %. remove.bg answers such a photo with its error unknown_foreground.
NOTHING_FOUND_BELOW = 0.001
# Nor did one that keeps little of its frame while the model is all but sure it is wrong: what it keeps of a black or
# a noise photo is a hazy blob of 0.1-0.3 % at a confidence of 0.000-0.006. On the 64 real photos the least sure
# cutouts (0.005-0.035) keep 12-16 % of their frames and the smallest subject (1.9 %) scores 0.41: a clean subject
# scores low only with a soft band over ten times its outline or most of it in pieces.
FAINT_BELOW, UNSURE_BELOW = 0.01, 0.05


@dataclass(frozen=True)
class Signals:
    band_width: float
    split_share: float
    area_share: float


def signals(alpha: np.ndarray) -> Signals:
    """The three marks of a wrong cutout on `alpha` (uint8, 0-255), measured on a copy at most SIDE long."""
    small = _shrunk(alpha)
    subject = small >= SUBJECT
    area = int(subject.sum())
    if area == 0:
        return Signals(band_width=0.0, split_share=0.0, area_share=0.0)
    soft = int(((small >= SOFT_LOW) & (small <= SOFT_HIGH)).sum())
    outline = int((subject & ~ndimage.binary_erosion(subject)).sum())
    labels, _ = ndimage.label(subject)  # one piece at least: the subject is not empty
    largest = int(np.bincount(labels.ravel())[1:].max())
    # A width, so in the pixels of a copy SIDE long: a photo smaller than that is measured at its own size, where
    # the same soft edge is fewer (larger) pixels wide (a 160x120 photo's band read half as wide: surer).
    pixel_size = SIDE / max(small.shape)
    return Signals(
        band_width=soft / max(outline, 1) * pixel_size,
        split_share=1 - largest / area,
        area_share=area / subject.size,
    )


def confidence(alpha: np.ndarray, masks_averaged: int = 1) -> float:
    """The probability (0-1) that the cutout with this alpha is right; an empty cutout scores 0. `masks_averaged`:
    how many model masks `alpha` is the mean of (removal.cutout.stills.masks_averaged)."""
    found = signals(alpha)
    if found.area_share == 0:
        return 0.0
    wrongness = (
        INTERCEPT
        - SHIFT_FOR_MASKS_AVERAGED[masks_averaged]
        + WEIGHT_BAND * math.log(found.band_width + FLOOR)
        + WEIGHT_SPLIT * found.split_share
        + WEIGHT_AREA * found.area_share
    )
    return 1 / (1 + math.exp(wrongness))


def shows_a_subject(cutout: Image.Image, sure: float | None = None) -> bool:
    """Whether the RGBA `cutout` shows a subject (NOTHING_FOUND_BELOW; with the model's confidence `sure`, where
    there is one, FAINT_BELOW and UNSURE_BELOW too), its subject counted on a sample of its pixels at most SIDE
    long: under a millisecond for 12 MP, where counting them all takes 50."""
    if not cutout.width or not cutout.height:
        return False
    scale = min(1.0, SIDE / max(cutout.size))
    size = (max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale)))
    sample = cutout.resize(size, Image.Resampling.NEAREST).getchannel("A")
    share = sum(sample.histogram()[SUBJECT:]) / (size[0] * size[1])
    faint_and_unsure = sure is not None and sure < UNSURE_BELOW and share < FAINT_BELOW
    return share >= NOTHING_FOUND_BELOW and not faint_and_unsure


def _shrunk(alpha: np.ndarray) -> np.ndarray:
    height, width = alpha.shape
    scale = SIDE / max(height, width)
    if scale >= 1:
        return alpha
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0))
