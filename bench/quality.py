"""The quality guard (`make quality`): cutouts scored against known alpha.

Composites are made from subjects whose alpha is known, pasted onto real
backgrounds (all shipped with scikit-image, kept out of git): the two RGBA
pictures in its data (a horse silhouette, a logo) and photo crops given a
soft-edged shape. Each installed model cuts them out through bgsite's own
pipeline; the score is the mean IoU of the subject (alpha > 127) and the mean
absolute alpha error (0-255). Speed work is held to it: the int8 copy may fall at most
0.005 IoU and 0.5 alpha MAE behind u2netp (exit status 1 otherwise).

    python -m bench.quality          # prints the table, writes bench/results/quality.json and docs/quality.md
"""

import io
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench.common import MODEL_DIR, REPO
from removal import pipeline
from removal.options import installed_models

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"
BACKGROUNDS = ["brick.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "retina.jpg", "moon.png"]
PHOTO_SUBJECTS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
CANVAS = (640, 480)
# The guard on the served int8 copy: how far it may fall behind the fp32 weights it was made from.
QUANTIZED = {"u2netp-int8": "u2netp"}
MAX_IOU_DROP, MAX_MAE_RISE = 0.005, 0.5


def _soft_shape(size: tuple[int, int], seed: int) -> Image.Image:
    """An ellipse or a rounded blob with a feathered edge, as a subject's alpha."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    width, height = size
    if seed % 2:
        draw.ellipse((width * 0.1, height * 0.05, width * 0.9, height * 0.95), fill=255)
    else:
        draw.rounded_rectangle((width * 0.15, height * 0.1, width * 0.85, height * 0.9), radius=width // 5, fill=255)
    return mask.filter(ImageFilter.GaussianBlur(3))


def subjects() -> list[tuple[str, Image.Image]]:
    """RGBA subjects with known alpha."""
    found = []
    for name in ("horse.png", "logo.png"):
        image = Image.open(SKIMAGE_DATA / name).convert("RGBA")
        if name == "horse.png":  # a black silhouette on transparent: give it a coat so it is a subject
            coat = Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB").resize(image.size)
            coat.putalpha(image.getchannel("A"))
            image = coat
        found.append((name, image))
    for seed, name in enumerate(PHOTO_SUBJECTS):
        photo = Image.open(SKIMAGE_DATA / name).convert("RGB")
        side = min(photo.size)
        crop = photo.crop(((photo.width - side) // 2, 0, (photo.width + side) // 2, side)).resize((300, 340))
        crop.putalpha(_soft_shape(crop.size, seed))
        found.append((f"{name} (shape)", crop))
    return found


def backgrounds() -> list[tuple[str, Image.Image]]:
    return [(name, Image.open(SKIMAGE_DATA / name).convert("RGB").resize(CANVAS)) for name in BACKGROUNDS]


def composite(subject: Image.Image, background: Image.Image) -> tuple[bytes, np.ndarray]:
    """The photo to cut out (JPEG) and the true alpha of its subject."""
    scale = min(CANVAS[0] * 0.6 / subject.width, CANVAS[1] * 0.8 / subject.height)
    placed = subject.resize((int(subject.width * scale), int(subject.height * scale)), Image.Resampling.LANCZOS)
    offset = ((CANVAS[0] - placed.width) // 2, (CANVAS[1] - placed.height) // 2)
    picture = background.convert("RGBA")
    picture.alpha_composite(placed, offset)
    truth = Image.new("L", CANVAS, 0)
    truth.paste(placed.getchannel("A"), offset)
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue(), np.asarray(truth, dtype=np.float32)


def score(model: str, cases: list[tuple[str, bytes, np.ndarray]]) -> dict[str, Any]:
    session = pipeline.create_session(model, MODEL_DIR)
    ious, maes, seconds = [], [], []
    for _, data, truth in cases:
        started = time.perf_counter()
        cutout = pipeline.cut_out(data, session=session, max_pixels=50_000_000, compress_level=1)
        seconds.append(time.perf_counter() - started)
        alpha = np.asarray(Image.open(io.BytesIO(cutout.data)).getchannel("A"), dtype=np.float32)
        predicted, actual = alpha > 127, truth > 127
        union = np.logical_or(predicted, actual).sum()
        ious.append(float(np.logical_and(predicted, actual).sum() / union) if union else 1.0)
        maes.append(float(np.abs(alpha - truth).mean()))
    return {
        "model": model,
        "cases": len(cases),
        "mean_iou": round(statistics.mean(ious), 4),
        "worst_iou": round(min(ious), 4),
        "alpha_mae": round(statistics.mean(maes), 2),
        "ms_per_image": round(statistics.median(seconds) * 1000),
    }


def guard(results: list[dict[str, Any]]) -> list[str]:
    """Each quantized copy against its original: a line per pair, and whether it holds."""
    by_model = {row["model"]: row for row in results}
    lines = []
    for copy, original in QUANTIZED.items():
        if copy in by_model and original in by_model:
            iou_drop = by_model[original]["mean_iou"] - by_model[copy]["mean_iou"]
            mae_rise = by_model[copy]["alpha_mae"] - by_model[original]["alpha_mae"]
            holds = iou_drop <= MAX_IOU_DROP and mae_rise <= MAX_MAE_RISE
            lines.append(
                f"`{copy}` against `{original}`: mean IoU {-iou_drop:+.4f} (at most -{MAX_IOU_DROP} allowed), "
                f"alpha MAE {mae_rise:+.2f} (at most +{MAX_MAE_RISE}): **{'holds' if holds else 'FAILS'}**."
            )
    return lines


def main() -> int:
    cases = [
        (f"{subject_name} on {background_name}", *composite(subject, background))
        for subject_name, subject in subjects()
        for background_name, background in backgrounds()
    ]
    results = [score(model, cases) for model in installed_models(MODEL_DIR)]
    print(f"{'model':<24}{'cases':>6}{'mean IoU':>10}{'worst IoU':>11}{'alpha MAE':>11}{'ms/image':>10}")
    for row in results:
        print(
            f"{row['model']:<24}{row['cases']:>6}{row['mean_iou']:>10}{row['worst_iou']:>11}"
            f"{row['alpha_mae']:>11}{row['ms_per_image']:>10}"
        )
    verdicts = guard(results)
    for line in verdicts:
        print(line.replace("`", "").replace("**", ""))
    output = REPO / "bench" / "results" / "quality.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "results": results}, indent=2))
    rows = "\n".join(
        f"| `{row['model']}` | {row['cases']} | {row['mean_iou']} | {row['worst_iou']} | {row['alpha_mae']} | "
        f"{row['ms_per_image']} |"
        for row in results
    )
    (REPO / "docs" / "quality.md").write_text(
        "# Quality guard\n\n"
        "_Generated by `make quality` (`bench/quality.py`); do not edit by hand._\n\n"
        f"{len(cases)} composites: {len(subjects())} subjects with known alpha (scikit-image's RGBA horse and logo, "
        f"and {len(PHOTO_SUBJECTS)} photo crops given a feathered shape) pasted onto {len(BACKGROUNDS)} real "
        "backgrounds at 640x480, saved as JPEG, and cut out by bgsite's own pipeline. IoU of the subject "
        "(alpha > 127) against the truth, and the mean absolute alpha error (0-255). Speed work is held to "
        "these numbers, within the limits below.\n\n"
        "| model | cases | mean IoU | worst IoU | alpha MAE | ms/image |\n|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        + "".join(f"{line}\n\n" for line in verdicts)
        + "`u2netp-int8` is the served default: u2netp quantized with onnxruntime's static quantization at setup "
        "(`scripts/quantize_model.py`). `make quality` fails when it falls further behind `u2netp` than the "
        "limits above. It differs most on photos with no clear subject (a retina, a close-up of a cat's face), "
        "where fp32's own mask is a diffuse grey that re-encoding the JPEG already changes; "
        "[benchmarks.md](benchmarks.md) has its agreement with fp32 on the bench photos.\n\n"
        "Other weights: the image build can add rembg's `isnet-general-use` and `birefnet-general-lite` "
        "(`EXTRA_MODELS` in the Dockerfile), downloaded from rembg's releases at build time; they are not "
        "installed on this offline machine, so only the bundled `u2netp` and its int8 copy are scored here. A run "
        "with more models installed scores each of them the same way.\n"
    )
    return 0 if all("holds" in line for line in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
