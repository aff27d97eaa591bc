"""removal.cutout.confidence on the served model's own masks of real photos (scikit-image's)."""

import io
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from removal.cutout import confidence, pipeline, results
from removal.cutout.options import Options
from tests.conftest import photo_bytes

MAX_PIXELS = 50_000_000


def model_mask(name: str, *, size: tuple[int, int] | None = None) -> np.ndarray:
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    photo = pipeline.decode_image(photo_bytes(name, size=size), max_pixels=MAX_PIXELS)
    return pipeline.predict_mask(photo, session=session)


@pytest.mark.parametrize("name", ["chelsea.png", "coffee.png", "astronaut.png"])
def test_a_photo_with_one_clear_subject_is_confident_and_not_flagged(name: str) -> None:
    score = confidence.confidence(model_mask(name))
    assert score >= 0.9
    assert not results.needs_review(score)


@pytest.mark.parametrize("name", ["grass.png", "gravel.png", "text.png"])
def test_a_photo_without_a_subject_leaves_specks_that_are_flagged(name: str) -> None:
    """On a texture the model finds no subject: what its mask keeps is scattered, hesitant and small."""
    mask = model_mask(name)
    score = confidence.confidence(mask)
    assert (mask >= 128).any()  # the model did keep something: the score, not an empty mask, flags it
    assert score < 0.1
    assert results.needs_review(score)


def test_a_cutout_of_a_few_specks_shows_no_subject() -> None:
    frame = np.zeros((960, 1280, 4), dtype=np.uint8)
    frame[::300, ::300, 3] = 255  # 20 opaque pixels, as a model keeps of a plain wall
    assert not confidence.shows_a_subject(Image.fromarray(frame))
    frame[400:440, 600:640, 3] = 255  # a subject of 40x40 pixels: 0.13 % of the frame
    assert confidence.shows_a_subject(Image.fromarray(frame))
    assert not confidence.shows_a_subject(Image.new("RGBA", (1, 1)))


def test_a_faint_cutout_the_model_is_all_but_sure_is_wrong_shows_no_subject() -> None:
    frame = np.zeros((960, 1280, 4), dtype=np.uint8)
    frame[400:480, 600:700, 3] = 255  # 0.65 % of the frame
    assert confidence.shows_a_subject(Image.fromarray(frame), 0.06)
    assert not confidence.shows_a_subject(Image.fromarray(frame), 0.04)
    frame[400:500, 600:800, 3] = 255  # 1.6 %: a small subject, however unsure, is shown
    assert confidence.shows_a_subject(Image.fromarray(frame), 0.0)
    assert confidence.shows_a_subject(Image.fromarray(frame))  # a hand-edited mask: no confidence to go by


def test_a_photo_of_a_plain_wall_comes_out_with_no_subject_box() -> None:
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    wall = io.BytesIO()
    Image.new("RGB", (640, 480), (128, 128, 128)).save(wall, "JPEG")
    cut = pipeline.cut_out(wall.getvalue(), session=session, max_pixels=MAX_PIXELS, compress_level=1)
    assert Image.open(io.BytesIO(cut.data)).getbbox(alpha_only=True) is not None  # the model kept specks
    assert cut.foreground is None
    photo = pipeline.cut_out(photo_bytes("coffee.png"), session=session, max_pixels=MAX_PIXELS, compress_level=1)
    assert photo.foreground is not None and photo.foreground[2] * photo.foreground[3] > 0.2 * 600 * 400


def test_a_subject_that_fills_a_small_roi_is_found() -> None:
    """roi asks about that region only: 20x10 pixels of the cup are 0.08 % of the photo, all of the region."""
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    cup = Options(roi=("290px", "200px", "310px", "210px"))
    cut = pipeline.cut_out(
        photo_bytes("coffee.png"), session=session, max_pixels=MAX_PIXELS, compress_level=1, options=cup
    )
    assert cut.foreground is not None and cut.foreground[2] * cut.foreground[3] <= 200
    empty = Options(roi=("10px", "10px", "10px", "10px"))  # a region of no pixels shows nothing
    cut = pipeline.cut_out(
        photo_bytes("coffee.png"), session=session, max_pixels=MAX_PIXELS, compress_level=1, options=empty
    )
    assert cut.foreground is None


def test_a_mask_that_hesitates_over_half_the_subject_is_less_confident() -> None:
    """The cat's mask with its right half at the model's undecided middle: a wide soft band."""
    mask = model_mask("chelsea.png")
    hesitant = mask.copy()
    right = hesitant[:, hesitant.shape[1] // 2 :]
    right[right >= 128] = 150
    right[(right > 30) & (right < 128)] = 100
    assert confidence.signals(hesitant).band_width > 2 * confidence.signals(mask).band_width
    assert confidence.confidence(hesitant) < confidence.confidence(mask) - 0.05


def test_a_second_piece_as_large_as_the_subject_is_flagged() -> None:
    """The cat's mask on a frame twice as wide, then with a second cat-sized piece beside it:
    what a model that keeps a piece of background next to the subject gives."""
    mask = model_mask("chelsea.png")
    height, width = mask.shape
    wide = np.zeros((height, 2 * width), dtype=np.uint8)
    wide[:, :width] = mask
    two_pieces = wide.copy()
    two_pieces[:, width:] = np.fliplr(mask)
    assert confidence.signals(two_pieces).split_share == pytest.approx(0.5, abs=0.01)
    assert not results.needs_review(confidence.confidence(wide))
    assert results.needs_review(confidence.confidence(two_pieces))


def test_the_same_photo_larger_scores_about_the_same() -> None:
    """Measured on a copy at the model's resolution: a bigger photo of the same scene is no more or less sure."""
    small = confidence.confidence(model_mask("chelsea.png"))
    large = confidence.confidence(model_mask("chelsea.png", size=(1802, 1200)))
    assert abs(small - large) < 0.05


@pytest.mark.parametrize("name", ["motorcycle_left.png", "rocket.jpg"])
def test_the_same_mask_on_a_photo_smaller_than_the_model_side_scores_about_the_same(name: str) -> None:
    """The model's mask of a photo, and that mask reduced as for a photo 160 pixels long (below SIDE, so measured
    at its own size): the same soft edge is half as many pixels wide there, and read in those pixels it made the
    cutout surer (0.61 -> 0.84, 0.24 -> 0.52). Two photos the model is unsure of, where the confidence moves most."""
    mask = model_mask(name)
    height, width = mask.shape
    size = (160, round(160 * height / width))
    small = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.LANCZOS))
    assert abs(confidence.confidence(small) - confidence.confidence(mask)) < 0.05


def test_an_empty_mask_scores_zero_and_is_flagged() -> None:
    empty = np.zeros((300, 400), dtype=np.uint8)
    assert confidence.confidence(empty) == 0.0
    assert results.needs_review(0.0)


def test_the_signals_read_what_they_name() -> None:
    """A 100x100 square with a 2-pixel soft ring on a 320x320 frame, and a second square a quarter its area."""
    mask = np.zeros((320, 320), dtype=np.uint8)
    mask[50:150, 50:150] = 255
    mask[48:50, 48:152] = mask[150:152, 48:152] = 100
    mask[48:152, 48:50] = mask[48:152, 150:152] = 100
    mask[200:250, 200:250] = 255
    found = confidence.signals(mask)
    assert found.area_share == pytest.approx((100 * 100 + 50 * 50) / 320**2)
    assert found.split_share == pytest.approx(2500 / 12500)
    assert found.band_width == pytest.approx((104**2 - 100**2) / (4 * 99 + 4 * 49))  # soft ring / outlines


def cut_out(data: bytes, *, max_frames: int = 1) -> pipeline.Cutout:
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    return pipeline.cut_out(data, session=session, max_pixels=MAX_PIXELS, compress_level=1, max_frames=max_frames)


def test_a_still_cutout_carries_the_confidence_of_its_model_mask() -> None:
    cutout = cut_out(photo_bytes("coffee.png"))
    assert cutout.confidence == pytest.approx(confidence.confidence(model_mask("coffee.png")))
    assert cutout.confidence is not None and cutout.confidence >= 0.9


def test_a_best_cutout_is_read_with_the_shift_for_the_masks_it_averages() -> None:
    """best's averaged mask has a wider soft band than one model's: its confidence takes the shift fitted for it."""
    session = pipeline.thread_session(settings.REMBG_MODEL, settings.U2NET_HOME)
    photo = pipeline.decode_image(photo_bytes("astronaut.png"), max_pixels=MAX_PIXELS)
    averaged = pipeline.predict_mask(photo, session=session, quality="best")
    cutout = pipeline.cut_out(
        photo_bytes("astronaut.png"),
        session=session,
        max_pixels=MAX_PIXELS,
        compress_level=1,
        options=Options(quality="best"),
    )
    assert cutout.confidence == pytest.approx(confidence.confidence(averaged, masks_averaged=2))
    assert pipeline.masks_averaged("fast", session) == 1 and pipeline.masks_averaged("best", None) == 2
    assert pipeline.masks_averaged("best", session) == 3
    raw, shifted = confidence.confidence(averaged), confidence.confidence(averaged, masks_averaged=3)
    assert 0 < raw < shifted < 1


def frames_of(names: list[str], size: tuple[int, int]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(photo_bytes(name, size=size))).convert("RGB") for name in names]


def test_an_animation_is_as_sure_as_its_least_confident_frame() -> None:
    size = (400, 300)
    frames = frames_of(["coffee.png", "grass.png", "coffee.png"], size)
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    cutout = cut_out(buffer.getvalue(), max_frames=10)
    assert cutout.frames == 3
    least = min(confidence.confidence(model_mask(name, size=size)) for name in ("coffee.png", "grass.png"))
    assert cutout.confidence == pytest.approx(least, abs=0.02)
    assert cutout.confidence is not None and results.needs_review(cutout.confidence)


def video_of(names: list[str], size: tuple[int, int] = (320, 240)) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        writer = imageio_ffmpeg.write_frames(str(path), size, fps=10, codec="libx264", macro_block_size=1)
        writer.send(None)
        for frame in frames_of(names, size):
            writer.send(frame.tobytes())
        writer.close()
        return path.read_bytes()


def test_a_video_with_one_frame_the_model_cannot_read_is_flagged() -> None:
    clear = cut_out(video_of(["coffee.png"] * 3), max_frames=10)
    mixed = cut_out(video_of(["coffee.png", "coffee.png", "gravel.png"]), max_frames=10)
    assert clear.confidence is not None and not results.needs_review(clear.confidence)
    assert mixed.confidence is not None and results.needs_review(mixed.confidence)


def test_the_confidence_is_the_fitted_logistic_model_of_the_three_signals() -> None:
    """Two opaque squares (10 000 and 2 500 pixels, outlines of 396 and 196) and 1 000 soft pixels on a 320x320
    frame: band_width 1000/592, split_share 0.2, area_share 12500/102400, read through the weights docs/quality.md
    gives, and the intercept's shift for a mean of two or three masks (quality=best)."""
    alpha = np.zeros((320, 320), np.uint8)
    alpha[20:120, 20:120] = 255
    alpha[200:250, 200:250] = 255
    alpha[150:170, 20:70] = 100  # partly transparent, not subject
    found = confidence.signals(alpha)
    assert found.band_width == pytest.approx(1000 / 592)
    assert (found.split_share, found.area_share) == (pytest.approx(0.2), 12500 / 102400)
    wrongness = -1.9519 + 1.8410 * np.log(1000 / 592 + 0.001) + 9.2409 * 0.2 - 7.4745 * 12500 / 102400
    for masks, shift in ((1, 0.0), (2, 0.460), (3, 0.994)):
        assert confidence.confidence(alpha, masks) == pytest.approx(1 / (1 + np.exp(wrongness - shift)), abs=1e-9)
    assert confidence.confidence(np.zeros((320, 320), np.uint8)) == 0.0


def test_the_subject_and_soft_thresholds_count_their_own_values() -> None:
    """Subject: alpha 128 and up; soft: 26 to 229 (10 % to 90 %), both ends included."""
    alpha = np.zeros((320, 320), np.uint8)
    for row, value in enumerate((25, 26, 127, 128, 229, 230)):
        alpha[50 * row + 10 : 50 * row + 20, 10:20] = value
    found = confidence.signals(alpha)
    subject_squares, soft_squares = 3, 4  # 128, 229, 230; and 26, 127, 128, 229
    assert found.area_share == subject_squares * 100 / alpha.size
    assert found.split_share == pytest.approx(1 - 1 / subject_squares)
    assert found.band_width == pytest.approx(soft_squares * 100 / (subject_squares * 36))
    assert confidence.signals(np.zeros((64, 64), np.uint8)) == confidence.Signals(0.0, 0.0, 0.0)
