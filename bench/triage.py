"""Which cutouts need a look (issue 21): the confidence rule measured on the real photos' served cutouts.

From one run's per-photo rows of the served model (IoU, time and confidence of its fast and best
cutouts, as bench/quality.py scores them): how well confidence ranks "IoU < 0.8" (AUROC), what
the default threshold flags, and three workflows: (a) all fast, (b) all best, (c) fast, then best
on the flagged only; then the same figures on fast cutouts of the photos resized (OTHER_SIZES), and
how many verdicts the size changes. Also two pictures: the most and least confident real-photo cutouts
(bench/results, as the photos may not be shared) and scikit-image's photos (docs/images).

    python -m bench.triage    # the served model's part of make quality alone: prints the tables
"""

import io
import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy.stats import mannwhitneyu

from bench import realphotos
from bench.common import REPO, RESULTS, SERVED_MODEL, text_table
from bench.scores import cut_out_alpha, score, scored_cutout
from removal.cutout import pipeline
from removal.cutout.results import DEFAULT_REVIEW_BELOW
from tests.conftest import photo_bytes

WRONG_BELOW = 0.8  # a cutout with IoU below this is wrong
TARGETS = {
    "AUROC at least 0.90": lambda f: f["auroc"] >= 0.90,
    "flags at most 35 % of the photos": lambda f: f["flagged_share"] <= 0.35,
    "catches at least 80 % of the wrong cutouts": lambda f: f["recall"] >= 0.80,
    "(c) within 0.005 IoU of (b)": lambda f: f["c"]["iou"] >= f["b"]["iou"] - 0.005,
    "(c) in at most 50 % of (b)'s time": lambda f: f["c"]["seconds"] <= 0.5 * f["b"]["seconds"],
}
# The same photos at other sizes, each in its own shape with about this many pixels: the rule should give the same
# photo the same verdict at any size when its cutout is as good (below 320 pixels long the model's input is enlarged).
OTHER_SIZES = {"160x120": 160 * 120, "240x180": 240 * 180, "640x480": 640 * 480, "1280x960": 1280 * 960}
SIZES_HEADER = ["size", "wrong", "flagged", "caught", "AUROC", "mean confidence / share right", "verdict changed"]
EXAMPLES = ["chelsea.png", "coffee.png", "astronaut.png", "motorcycle_left.png", "camera.png", "rocket.jpg"]


def figures(
    fast: list[dict[str, Any]], best: list[dict[str, Any]], below: float = DEFAULT_REVIEW_BELOW
) -> dict[str, Any]:
    """The triage figures from the served model's per-photo rows (same photos, same order)."""
    fast_iou, best_iou = np.array([r["iou"] for r in fast]), np.array([r["iou"] for r in best])
    fast_s, best_s = np.array([r["ms"] for r in fast]) / 1000, np.array([r["ms"] for r in best]) / 1000
    sure = np.array([r["confidence"] for r in fast])
    wrong, flagged = fast_iou < WRONG_BELOW, sure < below
    n_wrong, n_flagged, n_caught = int(wrong.sum()), int(flagged.sum()), int((flagged & wrong).sum())
    auroc = _auroc(sure, wrong)
    mended = np.where(flagged, best_iou, fast_iou)
    best_sure = np.array([r["confidence"] for r in best])
    cleared = flagged & (best_sure >= below)  # (c): no longer flagged once best made them again
    return {
        "photos": len(fast),
        "below": below,
        "wrong": n_wrong,
        "flagged": n_flagged,
        "caught": n_caught,
        "auroc": float(auroc),
        "flagged_share": n_flagged / len(fast),
        "recall": n_caught / max(n_wrong, 1),
        "precision": n_caught / max(n_flagged, 1),
        "a": {"iou": float(fast_iou.mean()), "seconds": float(fast_s.sum()), "wrong": n_wrong},
        "b": {"iou": float(best_iou.mean()), "seconds": float(best_s.sum()), "wrong": int((best_iou < 0.8).sum())},
        "c": {
            "iou": float(mended.mean()),
            "seconds": float(fast_s.sum() + best_s[flagged].sum()),
            "wrong": int((mended < WRONG_BELOW).sum()),
            "still_flagged": int((flagged & ~cleared).sum()),
            "cleared": int(cleared.sum()),
            "cleared_wrong": int((cleared & (best_iou < WRONG_BELOW)).sum()),
        },
        # Whether best's confidence reads as the probability it is right (confidence.SHIFT_FOR_MASKS_AVERAGED).
        "best_calibration": {
            "mean_confidence": float(best_sure.mean()),
            "share_right": float((best_iou >= WRONG_BELOW).mean()),
        },
    }


def _auroc(sure: np.ndarray, wrong: np.ndarray) -> float:
    """How often a wrong cutout is less sure than a right one (ties count half)."""
    return float(mannwhitneyu(-sure[wrong], -sure[~wrong]).statistic) / int(wrong.sum() * (~wrong).sum())


def size_figures(
    rows: list[dict[str, Any]], full: list[dict[str, Any]], below: float = DEFAULT_REVIEW_BELOW
) -> dict[str, Any]:
    """The rule on the photos' cutouts at one size (`rows`) and how many verdicts differ from full size's (`full`,
    the same photos in the same order)."""
    iou, sure = np.array([r["iou"] for r in rows]), np.array([r["confidence"] for r in rows])
    wrong, flagged = iou < WRONG_BELOW, sure < below
    flagged_at_full = np.array([r["confidence"] for r in full]) < below
    return {
        "photos": len(rows),
        "wrong": int(wrong.sum()),
        "flagged": int(flagged.sum()),
        "caught": int((flagged & wrong).sum()),
        "auroc": _auroc(sure, wrong),
        "mean_confidence": float(sure.mean()),
        "share_right": float((~wrong).mean()),
        "changed": int((flagged != flagged_at_full).sum()),
    }


def resized(photo: realphotos.Photo, pixels: int) -> tuple[bytes, np.ndarray]:
    """`photo` as a JPEG (quality 90, as bench/images makes them) of about `pixels` pixels in its own shape, and its
    true alpha at that size (a trimap's border kept: NEAREST)."""
    image = Image.open(io.BytesIO(photo.jpeg)).convert("RGB")
    scale = math.sqrt(pixels / (image.width * image.height))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90)
    truth_filter = Image.Resampling.NEAREST if photo.trimap else Image.Resampling.LANCZOS
    return buffer.getvalue(), np.asarray(Image.fromarray(photo.truth).resize(size, truth_filter))


def at_other_sizes(photos: list[Any], full: list[dict[str, Any]], model: str) -> dict[str, dict[str, Any]]:
    """size_figures of the served fast cutouts of `photos` at each of OTHER_SIZES, and at full size (`full`)."""
    found = {"full size": size_figures(full, full)}
    for name, pixels in OTHER_SIZES.items():
        rows = []
        for photo in photos:
            data, truth = resized(photo, pixels)
            alpha, _, sure = cut_out_alpha(data, model, "fast")
            rows.append({"iou": score(alpha, truth, trimap=photo.trimap)["iou"], "confidence": sure or 0.0})
        found[name] = size_figures(rows, full)
    return found


def size_rows(found: dict[str, dict[str, Any]]) -> list[list[str]]:
    return [
        [
            name,
            f"{f['wrong']} of {f['photos']}",
            f"{f['flagged']} ({f['flagged'] / f['photos']:.0%})",
            f"{f['caught']} of {f['wrong']} ({f['caught'] / max(f['wrong'], 1):.0%})",
            f"{f['auroc']:.3f}",
            f"{f['mean_confidence']:.3f} / {f['share_right']:.3f}",
            str(f["changed"]),
        ]
        for name, f in found.items()
    ]


def verdicts(found: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(name, bool(check(found))) for name, check in TARGETS.items()]


def table_rows(found: dict[str, Any]) -> list[list[str]]:
    n, b, c = found["photos"], found["b"], found["c"]
    versus = f" ({c['iou'] - b['iou']:+.4f} vs b; {c['seconds'] / b['seconds']:.0%} of b's time)"
    workflows = [(found["a"], "(a) all fast", ""), (b, "(b) all best", "")]
    workflows.append((c, f"(c) fast, then best on the {found['flagged']} flagged", versus))
    calibration = found["best_calibration"]
    return (
        [
            [f'AUROC of confidence for "IoU < {WRONG_BELOW}" ({found["wrong"]} of {n} wrong)', f"{found['auroc']:.3f}"],
            [
                f"flagged at the default {found['below']:.2f}",
                f"{found['flagged']} of {n} ({found['flagged_share']:.0%})",
            ],
            ["wrong cutouts flagged (recall)", f"{found['caught']} of {found['wrong']} ({found['recall']:.0%})"],
            [
                "flagged that are wrong (precision)",
                f"{found['caught']} of {found['flagged']} ({found['precision']:.0%})",
            ],
        ]
        + [
            [name, f"mean IoU {run['iou']:.4f}, {run['seconds']:.1f} s, {run['wrong']} below {WRONG_BELOW}{extra}"]
            for run, name, extra in workflows
        ]
        + [
            [
                "(c) flagged after best",
                f"{c['still_flagged']} of {found['flagged']}; {c['cleared']} cleared, {c['cleared_wrong']} of them "
                f"below {WRONG_BELOW}",
            ],
            [
                "best's mean confidence, against its share right",
                f"{calibration['mean_confidence']:.3f} against {calibration['share_right']:.3f}",
            ],
        ]
    )


def tile(image: Image.Image, alphas: list[np.ndarray], label: str = "", side: int = 240) -> Image.Image:
    """The photo beside its cutout with each alpha, on magenta, `side` pixels wide each, under `label` if any."""
    image, top = image.convert("RGB"), 20 if label else 0
    loud, height = Image.new("RGB", image.size, (255, 0, 200)), round(image.height * side / image.width)
    parts = [image, *(Image.composite(image, loud, Image.fromarray(alpha)) for alpha in alphas)]
    canvas = Image.new("RGB", (len(parts) * side, height + top), "white")
    for index, part in enumerate(parts):
        canvas.paste(part.resize((side, height)), (index * side, top))
    ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
    return canvas


def _sheet(tiles: list[Image.Image]) -> Image.Image:
    columns = [tiles[: len(tiles) // 2], tiles[len(tiles) // 2 :]]
    width = max(tile.width for tile in tiles)
    sheet = Image.new("RGB", (2 * width + 10, max(sum(t.height for t in column) for column in columns)), "white")
    for x, column in ((0, columns[0]), (width + 10, columns[1])):
        for y, tile in zip(np.cumsum([0] + [t.height for t in column[:-1]]), column, strict=True):
            sheet.paste(tile, (x, int(y)))
    return sheet


def _served_cutout(data: bytes, model: str) -> tuple[Image.Image, np.ndarray, float]:
    alpha, _, confidence = cut_out_alpha(data, model, "fast")
    return pipeline.decode_image(data, max_pixels=50_000_000), alpha, float(confidence or 0)


def extremes_picture(photos: list[Any], fast: list[dict[str, Any]], model: str, count: int = 4) -> Image.Image:
    """The `count` least confident served cutouts (left) and the `count` most (right)."""
    by_id = {photo.id: photo for photo in photos}
    ranked = sorted(fast, key=lambda row: row["confidence"])
    tiles = []
    for row in [*ranked[:count], *ranked[::-1][:count]]:
        image, alpha, sure = _served_cutout(by_id[row["id"]].jpeg, model)
        tiles.append(tile(image, [alpha], f"{row['id']}: confidence {sure:.2f}, IoU {row['iou']:.2f}"))
    return _sheet(tiles)


def examples_picture(model: str) -> Image.Image:
    """scikit-image's photos (free to share) as the served model cuts them out, with their confidence."""
    tiles = []
    for name in EXAMPLES:
        image, alpha, sure = _served_cutout(photo_bytes(name), model)
        note = " - may need a look" if sure < DEFAULT_REVIEW_BELOW else ""
        tiles.append((sure, tile(image, [alpha], f"{name}: confidence {sure:.2f}{note}")))
    return _sheet([picture for _, picture in sorted(tiles, key=lambda entry: entry[0])])


def write_pictures(photos: list[Any], fast: list[dict[str, Any]], model: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    extremes_picture(photos, fast, model).save(RESULTS / "confidence-extremes.jpg", quality=82)
    examples_picture(model).save(REPO / "docs" / "images" / "confidence-examples.jpg", quality=80)


def main() -> int:
    photos = realphotos.load()
    rows = {preset: [scored_cutout(photo, SERVED_MODEL, preset) for photo in photos] for preset in ("fast", "best")}
    found = figures(rows["fast"], rows["best"])
    print(text_table(["figure", "value"], table_rows(found)))
    for line, holds in verdicts(found):
        print(f"{'met ' if holds else 'MISSED'}  {line}")
    print(text_table(SIZES_HEADER, size_rows(at_other_sizes(photos, rows["fast"], SERVED_MODEL))))
    write_pictures(photos, rows["fast"], SERVED_MODEL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
