"""removal.cutout.refine on real pixels: the model's own mask of a real photo, cleaned; real colours decontaminated."""

import io

import numpy as np
import pytest
from django.conf import settings
from PIL import Image, ImageFilter

from bench import realphotos
from removal.cutout import pipeline, refine
from removal.cutout.options import Options
from tests.conftest import photo_bytes

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    """scikit-image's cat photo: one clear subject."""
    return pipeline.decode_image(photo_bytes("chelsea.png"), max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def model_mask(chelsea: Image.Image) -> np.ndarray:
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    return pipeline.predict_mask(chelsea, session=session)


def subject_box(alpha: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(alpha >= threshold)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def far_corner(alpha: np.ndarray, size: int) -> tuple[slice, slice]:
    """A size x size square of the photo as far from the subject as the photo allows."""
    left, top, right, bottom = subject_box(alpha)
    height, width = alpha.shape
    column = 0 if left > width - right else width - size
    row = 0 if top > height - bottom else height - size
    return slice(row, row + size), slice(column, column + size)


def test_a_confident_speck_far_from_the_subject_is_removed(model_mask: np.ndarray) -> None:
    corner = far_corner(model_mask, 12)
    specked = model_mask.copy()
    specked[corner] = 255
    cleaned = refine.refine_alpha(specked)
    assert cleaned[corner].max() == 0
    assert (cleaned >= 128).sum() == pytest.approx((refine.refine_alpha(model_mask) >= 128).sum(), rel=0.001)


def test_faint_haze_over_the_background_is_cleared_and_no_longer_stretches_the_box(model_mask: np.ndarray) -> None:
    hazy = np.maximum(model_mask, 20).astype(np.uint8)  # every background pixel faintly visible
    assert subject_box(hazy, 1) == (0, 0, hazy.shape[1], hazy.shape[0])
    cleaned = refine.refine_alpha(hazy)
    assert subject_box(cleaned, 1) == subject_box(refine.refine_alpha(model_mask), 1)


def test_a_hole_enclosed_by_the_subject_is_filled_and_a_large_gap_is_not(model_mask: np.ndarray) -> None:
    left, top, right, bottom = subject_box(model_mask, 250)
    middle_row, middle_col = (top + bottom) // 2, (left + right) // 2
    assert model_mask[middle_row, middle_col] >= 250
    pinhole = (slice(middle_row - 3, middle_row + 3), slice(middle_col - 3, middle_col + 3))
    holed = model_mask.copy()
    holed[pinhole] = 0
    assert refine.refine_alpha(holed)[pinhole].min() == 255

    gap_side = round(np.sqrt((model_mask >= 128).sum() * 0.05))  # 5 % of the subject: a real gap
    gap = (
        slice(middle_row - gap_side // 2, middle_row + gap_side // 2),
        slice(middle_col - gap_side // 2, middle_col + gap_side // 2),
    )
    gapped = model_mask.copy()
    gapped[gap] = 0
    assert refine.refine_alpha(gapped)[gap].max() == 0


def test_near_empty_and_near_full_alpha_snap() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    snapped = refine.snap(ramp, 40, 190)
    assert snapped[ramp <= 40].max() == 0
    assert snapped[ramp >= 190].min() == 255
    assert np.all(np.diff(snapped.ravel().astype(int)) >= 0)


def test_decontaminated_edge_pixels_lose_the_background_colour(chelsea: Image.Image) -> None:
    """The cat photo over pure green with a soft round edge: the edge turns green; afterwards much less so."""
    subject = chelsea.crop((100, 20, 400, 300))
    alpha = Image.new("L", subject.size, 0)
    alpha.paste(255, (40, 40, 260, 240))
    alpha = alpha.filter(ImageFilter.GaussianBlur(6))
    photo = Image.new("RGB", subject.size, (0, 255, 0))
    photo.paste(subject, mask=alpha)
    true_alpha = np.asarray(alpha)
    edge = (true_alpha > 25) & (true_alpha < 230)

    def green_excess(image: Image.Image) -> float:
        pixels = np.asarray(image)[edge].astype(float)
        return float((pixels[:, 1] - (pixels[:, 0] + pixels[:, 2]) / 2).mean())

    truth = green_excess(subject)
    before = green_excess(photo)
    after = green_excess(refine.decontaminate(photo, true_alpha))
    assert before - truth > 40
    assert after - truth < (before - truth) / 2
    unchanged = (true_alpha == 0) | (true_alpha == 255)
    assert np.array_equal(np.asarray(refine.decontaminate(photo, true_alpha))[unchanged], np.asarray(photo)[unchanged])


def test_crop_and_foreground_box_come_from_the_cleaned_mask(chelsea: Image.Image) -> None:
    """crop=true and the reported foreground box are the cleaned subject's box, not the haze's."""
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    data = photo_bytes("chelsea.png")
    full = pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1)
    cropped = pipeline.cut_out(
        data, session=session, max_pixels=MAX_PIXELS, compress_level=1, options=Options(crop=True)
    )
    alpha = np.asarray(Image.open(io.BytesIO(full.data)).getchannel("A"))
    cleaned_box = subject_box(alpha, 1)
    assert full.foreground == (
        cleaned_box[0],
        cleaned_box[1],
        cleaned_box[2] - cleaned_box[0],
        cleaned_box[3] - cleaned_box[1],
    )
    assert (cropped.width, cropped.height) == (full.foreground[2], full.foreground[3])
    raw_box = subject_box(pipeline.predict_mask(chelsea, session=session), 1)
    raw_area = (raw_box[2] - raw_box[0]) * (raw_box[3] - raw_box[1])
    assert cropped.width * cropped.height < raw_area  # the raw mask's faint values reach further


def test_best_averages_the_mirror_image(chelsea: Image.Image) -> None:
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    fast = pipeline.predict_mask(chelsea, session=session).astype(int)
    best = pipeline.predict_mask(chelsea, session=session, quality="best").astype(int)
    mirrored = np.asarray(pipeline.predict_mask(chelsea.transpose(Image.Transpose.FLIP_LEFT_RIGHT), session=session))[
        :, ::-1
    ]
    assert np.abs(best - (fast + mirrored.astype(int)) / 2).max() <= 1
    assert not np.array_equal(best, fast)


def test_best_averages_in_the_partner_model_when_it_is_installed(chelsea: Image.Image) -> None:
    model_dir = settings.U2NET_HOME
    assert pipeline.best_partner("fast", "u2netp-int8", "u2netp", model_dir) is None
    assert pipeline.best_partner("best", "u2netp", "u2netp", model_dir) is None  # not itself
    assert pipeline.best_partner("best", "u2netp-int8", "no-such-model", model_dir) is None
    assert pipeline.best_partner("best", "u2netp-int8", "", model_dir) is None
    partner = pipeline.best_partner("best", "u2netp-int8", "u2netp", model_dir)
    assert partner is not None
    session = pipeline.thread_session("u2netp-int8", model_dir)
    alone = pipeline.predict_mask(chelsea, session=session, quality="best").astype(float)
    partner_mask = pipeline.predict_mask(chelsea, session=partner).astype(float)
    together = pipeline.predict_mask(chelsea, session=session, quality="best", partner=partner).astype(float)
    assert np.abs(together - (alone + partner_mask) / 2).max() <= 1


def reference_compose(rgb: Image.Image, alpha: np.ndarray) -> np.ndarray:
    """compose as first written: the correction F + w (C - w F - (1 - w) B) in floats over the whole photo,
    then alpha put in and the colour of clear pixels zeroed."""
    subject, background, small_rows, small_cols = refine._local_means(refine._small_photo(rgb), alpha)
    rows, cols = np.nonzero((alpha > 0) & (alpha < 255))
    photo = np.asarray(rgb)
    colour = photo[rows, cols].astype(np.float32) / 255
    weight = (alpha[rows, cols].astype(np.float32) / 255)[:, None]
    fore = subject[small_rows[rows], small_cols[cols]] / 255
    back = background[small_rows[rows], small_cols[cols]] / 255
    fore = np.clip(fore + weight * (colour - weight * fore - (1 - weight) * back), 0, 1)
    cutout = np.dstack([photo, alpha])
    cutout[rows, cols, :3] = (fore * 255 + 0.5).astype(np.uint8)
    cutout[alpha == 0] = 0
    return cutout


@pytest.fixture(scope="module")
def real_photos() -> list[realphotos.Photo]:
    """Four photographs of the real-photo set whose true alpha has soft edges (hair, fur, glass)."""
    photos = [photo for photo in realphotos.load() if ((photo.truth > 0) & (photo.truth < 255)).sum() > 1000]
    return [photos[index * len(photos) // 4] for index in range(4)]


def test_compose_matches_the_reference_formulas_on_real_photos(real_photos: list[realphotos.Photo]) -> None:
    """One pass, band by band, in other arithmetic: the same cutout to within one level of colour."""
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    for photo in real_photos:
        rgb = pipeline.decode_image(photo.jpeg, max_pixels=MAX_PIXELS)
        model_alpha = refine.refine_alpha(pipeline.predict_mask(rgb, session=session))
        for alpha in (model_alpha, photo.truth):
            cutout = np.asarray(refine.compose(refine.canvas(rgb), alpha)).astype(int)
            reference = reference_compose(rgb, alpha).astype(int)
            assert np.array_equal(cutout[..., 3], alpha)
            visible = alpha > 0
            assert np.abs(cutout[visible, :3] - reference[visible, :3]).max() <= 1, photo.id
            assert np.array_equal(cutout[alpha == 255], reference[alpha == 255])
            assert not cutout[alpha == 0].any(), "clear pixels carry no colour"
            soft = (alpha > 0) & (alpha < 255)
            assert soft.sum() > 1000  # real soft edges were compared, not only opaque pixels


def test_decontaminate_changes_only_soft_pixels_as_compose_does(real_photos: list[realphotos.Photo]) -> None:
    photo = real_photos[0]
    rgb = pipeline.decode_image(photo.jpeg, max_pixels=MAX_PIXELS)
    colours = np.asarray(refine.decontaminate(rgb, photo.truth))
    visible = photo.truth > 0
    assert np.array_equal(colours[visible], np.asarray(refine.compose(refine.canvas(rgb), photo.truth))[visible, :3])
    assert np.array_equal(colours[~visible], np.asarray(rgb)[~visible])


def test_refine_alpha_leaves_the_callers_mask_as_it_was(model_mask: np.ndarray) -> None:
    specked = model_mask.copy()
    specked[far_corner(model_mask, 12)] = 255
    before = specked.copy()
    unsnapped = refine.Refinement(snap_low=0, snap_high=255)
    assert not np.array_equal(refine.refine_alpha(specked, unsnapped), before)
    assert np.array_equal(specked, before)
