"""remove.bg's roi, a box x1 y1 x2 y2 of values in px of the photo or in % ("10% 10% 90% 90%"): whether it holds
any of an image (option_parsing refuses a box empty in any image, services.refusals one empty in this image) and its
box in pixels of the cutout (stills)."""

import math

Roi = tuple[str, str, str, str] | list[str]  # x1 y1 x2 y2, each "25px" or "10%"


def roi_is_empty(roi: Roi, size: tuple[int, int]) -> bool:
    """Whether no pixel of an image of `size` is in the roi box, as it is clamped to the image. A box partly outside
    the image is not empty."""
    left, top, right, bottom = _roi_edges(roi, size)
    return right <= left or bottom <= top


def roi_is_empty_in_any_image(roi: Roi) -> bool:
    """Whether no pixel is in the roi box whatever the image's size: a side in one unit, inverted or outside ("0 0 0
    0", "500px 500px 400px 400px", "100% 0% 150% 100%")."""
    return any(_no_side_whatever_the_size(roi[index], roi[index + 2]) for index in (0, 1))


def _no_side_whatever_the_size(start: str, end: str) -> bool:
    """Whether an axis of the roi from `start` to `end` is empty in any image: both in one unit, and inverted or (in
    %) starting past the image. In mixed units ("50% 0 100px 100%") only the image's size tells."""
    (first, in_percent), (last, end_in_percent) = _roi_value(start), _roi_value(end)
    if in_percent != end_in_percent:
        return False
    return last <= first or (in_percent and first >= 100)


def _roi_value(token: str) -> tuple[int, bool]:
    """One of the roi's four values ("25px", "10%"): its number, and whether it is a percentage."""
    return int(token.rstrip("px%")), token.endswith("%")


def roi_box(roi: Roi, size: tuple[int, int], photo_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The roi's box in pixels of an image of `size`, a copy of the photo of `photo_size` scaled (size=preview): px
    are the photo's pixels, as remove.bg's clients count them. Rounded outwards, so a box that is not empty in the
    photo (roi_is_empty) is not empty here either."""
    edges = _roi_edges(roi, photo_size)
    scales = [new / old for new, old in zip(size * 2, photo_size * 2, strict=True)]
    left, top = (math.floor(edge * scale) for edge, scale in zip(edges[:2], scales[:2], strict=True))
    right, bottom = (math.ceil(edge * scale) for edge, scale in zip(edges[2:], scales[2:], strict=True))
    return left, top, max(left, right), max(top, bottom)


def _roi_edges(roi: Roi, size: tuple[int, int]) -> tuple[float, ...]:
    """The roi's edges (left, top, right, bottom) in pixels of an image of `size`, clamped to it."""

    def pixels(token: str, full: int) -> float:
        number, in_percent = _roi_value(token)
        return min(full * number / 100 if in_percent else number, full)

    return tuple(pixels(token, size[index % 2]) for index, token in enumerate(roi))
