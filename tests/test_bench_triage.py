"""bench.triage: the confidence figures make quality reports (AUROC, flagged share, recall, the workflows)."""

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bench import realphotos, triage


def rows(ious: list[float], confidences: list[float], ms: float) -> list[dict[str, Any]]:
    return [
        {"id": f"p{index}", "iou": iou, "confidence": sure, "ms": ms}
        for index, (iou, sure) in enumerate(zip(ious, confidences, strict=True))
    ]


def test_the_figures_count_what_they_name() -> None:
    # Ten photos: three wrong (IoU < 0.8); the rule flags four, two of them wrong, and ranks one
    # wrong cutout above a right one.
    fast_iou = [0.95, 0.9, 0.92, 0.5, 0.6, 0.97, 0.75, 0.93, 0.91, 0.96]
    sure = [0.9, 0.55, 0.85, 0.1, 0.3, 0.95, 0.7, 0.5, 0.88, 0.99]
    best_iou = [0.96, 0.91, 0.92, 0.9, 0.85, 0.97, 0.8, 0.94, 0.9, 0.96]
    best_sure = [0.9, 0.7, 0.85, 0.4, 0.65, 0.95, 0.7, 0.5, 0.88, 0.99]  # of the four flagged, 0.55 and 0.3 clear
    found = triage.figures(rows(fast_iou, sure, 100), rows(best_iou, best_sure, 300), below=0.6)

    assert (found["wrong"], found["flagged"], found["caught"]) == (3, 4, 2)
    assert found["recall"] == pytest.approx(2 / 3) and found["precision"] == pytest.approx(0.5)
    # 21 pairs (wrong, right); the wrong one is less sure in all but the pairs with 0.7 against 0.55 and 0.5.
    assert found["auroc"] == pytest.approx(19 / 21)
    assert found["a"] == {"iou": pytest.approx(sum(fast_iou) / 10), "seconds": pytest.approx(1.0), "wrong": 3}
    assert found["b"]["seconds"] == pytest.approx(3.0)
    mended = [b if s < 0.6 else f for f, b, s in zip(fast_iou, best_iou, sure, strict=True)]
    assert found["c"] == {
        "iou": pytest.approx(sum(mended) / 10),
        "seconds": pytest.approx(1.0 + 1.2),
        "wrong": 1,
        "still_flagged": 2,
        "cleared": 2,
        "cleared_wrong": 0,
    }
    assert found["best_calibration"] == {"mean_confidence": pytest.approx(7.52 / 10), "share_right": 1.0}


def test_the_targets_are_read_from_the_figures() -> None:
    sure = [0.9, 0.1, 0.95, 0.2]
    met = triage.figures(rows([0.9, 0.5, 0.95, 0.6], sure, 10), rows([0.9, 0.9, 0.95, 0.9], sure, 100))
    verdicts = dict(triage.verdicts(met))
    assert verdicts["AUROC at least 0.90"] and verdicts["catches at least 80 % of the wrong cutouts"]
    assert not verdicts["flags at most 35 % of the photos"]  # two of four
    assert verdicts["(c) within 0.005 IoU of (b)"] and not verdicts["(c) in at most 50 % of (b)'s time"]
    assert [row[0] for row in triage.table_rows(met)][-3] == "(c) fast, then best on the 2 flagged"


def test_the_figures_at_another_size_count_what_they_name() -> None:
    # Five photos: at full size the rule flags the first two; at the other size two are wrong (IoU < 0.8), it flags
    # the second and the fourth (one of them wrong), so two verdicts changed.
    full = rows([0.9, 0.5, 0.95, 0.9, 0.7], [0.3, 0.2, 0.9, 0.8, 0.7], 10)
    other = rows([0.9, 0.5, 0.95, 0.9, 0.7], [0.7, 0.2, 0.9, 0.4, 0.8], 10)
    found = triage.size_figures(other, full, below=0.6)
    assert (found["photos"], found["wrong"], found["flagged"], found["caught"], found["changed"]) == (5, 2, 2, 1, 2)
    assert found["auroc"] == pytest.approx(4 / 6)  # 0.2 below every right one; 0.8 above 0.7 and 0.4 only
    assert found["mean_confidence"] == pytest.approx(0.6) and found["share_right"] == pytest.approx(0.6)
    assert triage.size_rows({"240x180": found})[0] == [
        "240x180",
        "2 of 5",
        "2 (40%)",
        "1 of 2 (50%)",
        "0.667",
        "0.600 / 0.600",
        "2",
    ]


def test_a_photo_is_resized_in_its_own_shape_with_its_true_alpha() -> None:
    image, truth = Image.new("RGB", (400, 200), "white"), np.zeros((200, 400), np.uint8)
    truth[50:150, 100:300] = 255
    truth[40:50, 100:300] = 128  # a trimap's unknown border
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    for trimap in (False, True):
        photo = realphotos.Photo("p", "products", "", buffer.getvalue(), truth, trimap)
        data, small = triage.resized(photo, 100 * 50)
        assert Image.open(io.BytesIO(data)).size == (100, 50) and small.shape == (50, 100)
        assert set(np.unique(small)) <= {0, 128, 255} if trimap else len(np.unique(small)) > 3
