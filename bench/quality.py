"""`make quality`: cutouts scored against true alpha, on real photos first, composites second.

Real photos (bench/realphotos): every installed model, with each quality preset, through bgsite's own
pipeline, scored (bench/scores.py) per model, preset and category beside the model's raw mask. The
served default and `best` are held to TARGETS; the exit status is 1 when one is missed. Composites
(scikit-image's pictures pasted with known alpha onto real backgrounds) hold each int8 copy to its
model and measure colour bleed at soft edges, with and without decontamination.

    python -m bench.quality    # prints the tables; writes bench/results/quality.json,
                               # removal/cutout/measured_quality.json and docs/quality.md
"""

import datetime
import io
import json
import platform
import statistics
import string
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench import realphotos, scores, triage
from bench.common import MODEL_DIR, REPO, RESULTS, SERVED_MODEL, markdown_table, text_table
from bench.images import SKIMAGE_DATA, jpeg, skimage_photo
from bench.scores import BEST_PARTNER, cut_out_alpha, scored_cutout
from removal.cutout import pipeline, refine
from removal.cutout.installed import MEASURED_QUALITY, installed_models
from removal.cutout.model_catalog import int8_base
from removal.cutout.options import QUALITIES

BACKGROUNDS = ["brick.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "retina.jpg", "moon.png"]
HORSE_COATS = ["chelsea.png", "coffee.png"]
PHOTO_SUBJECTS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
CANVAS = (640, 480)
CATEGORIES = ("people", "animals", "products", "plants", "multi")
# An int8 copy (<name>-int8) may fall at most this far behind its fp32 model on the composites.
MAX_IOU_DROP, MAX_MAE_RISE = 0.005, 0.5
TARGETS = {
    "served default: background residue at most 2 %": lambda f, b, raw: f["residue"] <= 2.0,
    "served default: crop-box IoU at least 0.95": lambda f, b, raw: f["crop_iou"] >= 0.95,
    "served default: IoU no worse than the raw mask": lambda f, b, raw: f["iou"] >= raw["iou"] - 0.0005,
    "served default: alpha MAE no worse than the raw mask": lambda f, b, raw: f["mae"] <= raw["mae"] + 0.05,
    "best: IoU at least served default + 0.015": lambda f, b, raw: b["iou"] >= f["iou"] + 0.015,
    "best: alpha MAE at most served default - 2": lambda f, b, raw: b["mae"] <= f["mae"] - 2,
    "best: at most 4x the served default's time": lambda f, b, raw: b["ms_per_image"] <= 4 * f["ms_per_image"],
}


def score_photos(model: str, photos: list[realphotos.Photo]) -> dict[str, Any]:
    """Per variant (raw, fast, best), per category and overall: the mean figures, and each photo's. `raw` is the
    model's own mask, as bgsite served it before the clean-up."""
    session = pipeline.thread_session(model, MODEL_DIR)
    per_photo: dict[str, list[dict[str, Any]]] = {"raw": [], **{quality: [] for quality in QUALITIES}}
    for photo in photos:
        image = pipeline.decode_image(photo.jpeg, max_pixels=50_000_000).convert("RGB")
        raw = scores.score(pipeline.predict_mask(image, session=session), photo.truth, trimap=photo.trimap)
        per_photo["raw"].append({"id": photo.id, "category": photo.category, "ms": None} | raw)
        for quality in QUALITIES:
            per_photo[quality].append(scored_cutout(photo, model, quality))
    return {variant: summarise(rows) for variant, rows in per_photo.items()}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    groups = {"all": rows} | {c: [r for r in rows if r["category"] == c] for c in CATEGORIES}
    summary: dict[str, Any] = {"photos": rows}
    for name, members in groups.items():
        if members:
            summary[name] = scores.mean_scores(members) | {"count": len(members)}
            timed = [row["ms"] for row in members if row["ms"] is not None]
            summary[name]["ms_per_image"] = statistics.median(timed) if timed else None
    return summary


# The composites: the second set.


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
    """RGBA subjects with known alpha and colours."""
    # scikit-image's horse is a black silhouette on white: its dark pixels, lightly feathered, are
    # the subject's shape, given a photo's coat. An object-shaped truth, where the crops are blobs.
    horse = Image.open(SKIMAGE_DATA / "horse.png").convert("L")
    silhouette = horse.point(lambda value: 255 if value < 128 else 0).filter(ImageFilter.GaussianBlur(1))
    found = [
        (f"horse ({name} coat)", Image.merge("RGBA", (*skimage_photo(name).resize(horse.size).split(), silhouette)))
        for name in HORSE_COATS
    ]
    for seed, name in enumerate(PHOTO_SUBJECTS):
        photo = skimage_photo(name)
        side = min(photo.size)
        crop = photo.crop(((photo.width - side) // 2, 0, (photo.width + side) // 2, side)).resize((300, 340))
        found.append((f"{name} (shape)", Image.merge("RGBA", (*crop.split(), _soft_shape(crop.size, seed)))))
    return found


def composite(subject: Image.Image, background: Image.Image) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The photo to cut out (JPEG), the true alpha of its subject and the subject's true colours."""
    scale = min(CANVAS[0] * 0.6 / subject.width, CANVAS[1] * 0.8 / subject.height)
    placed = subject.resize((int(subject.width * scale), int(subject.height * scale)), Image.Resampling.LANCZOS)
    layer = Image.new("RGBA", CANVAS)  # the subject alone, centred: its alpha is the truth
    layer.paste(placed, ((CANVAS[0] - placed.width) // 2, (CANVAS[1] - placed.height) // 2))
    picture = Image.alpha_composite(background.convert("RGBA"), layer).convert("RGB")
    return jpeg(picture, quality=92), np.asarray(layer.getchannel("A")), np.asarray(layer.convert("RGB"))


def all_cases() -> list[tuple[str, bytes, np.ndarray, np.ndarray]]:
    """Every subject on every background (resized to CANVAS): a name, the photo, its true alpha and colours."""
    backgrounds = [(name, skimage_photo(name).resize(CANVAS)) for name in BACKGROUNDS]
    return [
        (f"{subject_name} on {background_name}", *composite(subject, background))
        for subject_name, subject in subjects()
        for background_name, background in backgrounds
    ]


def colour_bleed(photo: Image.Image, alpha: np.ndarray, truth: np.ndarray, colours: np.ndarray) -> tuple[float, float]:
    """Mean colour error (0-255, alpha-weighted) of the cutout's soft edge pixels on the subject,
    as the photo has them and after decontamination."""
    edge = (alpha > 0) & (alpha < 255) & (truth > 0)
    if not edge.any():
        return 0.0, 0.0
    weight = alpha[edge].astype(np.float32)
    true_colours = colours[edge].astype(np.float32)

    def error(rgb: Image.Image) -> float:
        found = np.asarray(rgb)[edge].astype(np.float32)
        return float((np.abs(found - true_colours).mean(axis=1) * weight).sum() / weight.sum())

    return error(photo), error(refine.decontaminate(photo, alpha))


def score_composites(model: str, cases: list[tuple[str, bytes, np.ndarray, np.ndarray]]) -> dict[str, Any]:
    rows = []
    for _, data, truth, colours in cases:
        alpha, _, _ = cut_out_alpha(data, model, "fast")
        bleed = colour_bleed(pipeline.decode_image(data, max_pixels=50_000_000), alpha, truth, colours)
        rows.append((scores.iou(alpha, truth), float(np.abs(alpha.astype(np.int16) - truth).mean()), *bleed))
    ious, maes, bleed_before, bleed_after = zip(*rows, strict=True)
    return {
        "model": model,
        "cases": len(cases),
        "mean_iou": round(statistics.mean(ious), 4),
        "worst_iou": round(min(ious), 4),
        "alpha_mae": round(statistics.mean(maes), 2),
        "bleed_before": round(statistics.mean(bleed_before), 2),
        "bleed_after": round(statistics.mean(bleed_after), 2),
    }


def int8_guard(results: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """Each int8 copy against the model it was made from, on the composites."""
    by_model = {row["model"]: row for row in results}
    verdicts = []
    for copy in results:
        original = by_model.get(int8_base(copy["model"]) or "")
        if original is None:
            continue
        iou_drop = original["mean_iou"] - copy["mean_iou"]
        mae_rise = copy["alpha_mae"] - original["alpha_mae"]
        line = f"`{copy['model']}` against `{original['model']}`: mean IoU {-iou_drop:+.4f} (at most -{MAX_IOU_DROP}), "
        line += f"alpha MAE {mae_rise:+.2f} (at most +{MAX_MAE_RISE})"
        verdicts.append((line, iou_drop <= MAX_IOU_DROP and mae_rise <= MAX_MAE_RISE))
    return verdicts


def target_verdicts(served: dict[str, Any]) -> list[tuple[str, bool]]:
    fast, best, raw = served["fast"]["all"], served["best"]["all"], served["raw"]["all"]
    return [(name, bool(check(fast, best, raw))) for name, check in TARGETS.items()]


# Reporting.

# The real-photo table's figures: {name in bench/scores.py's figures and summarise()'s: (column, format)}.
REAL_COLUMNS = {
    "iou": ("IoU", ".3f"),
    "mae": ("alpha MAE", ".1f"),
    "edge_mae": ("edge MAE", ".1f"),
    "residue": ("residue %", ".1f"),
    "holes": ("holes %", ".1f"),
    "crop_iou": ("crop IoU", ".3f"),
    "ms_per_image": ("ms/image", ".0f"),
}
REAL_HEADER = ["model", "variant", "photos", *(column for column, _ in REAL_COLUMNS.values())]
COMPOSITE_HEADER = ["model", "cases", "mean IoU", "worst IoU", "alpha MAE", "bleed (photo)", "bleed (decontaminated)"]


def figure_cells(figures: dict[str, Any]) -> list[str]:
    return ["—" if figures[name] is None else format(figures[name], spec) for name, (_, spec) in REAL_COLUMNS.items()]


def real_rows(real: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for model, variants in real.items():
        for variant, summary in variants.items():
            for group in ("all", *CATEGORIES):
                if group in summary:
                    label = "raw mask (before)" if variant == "raw" else variant
                    rows.append([model, label, f"{group} ({summary[group]['count']})", *figure_cells(summary[group])])
    return rows


def worst_picture(
    model: str, photos: list[realphotos.Photo], rows: list[dict[str, Any]], count: int = 4
) -> Image.Image:
    """The `count` lowest-IoU photos: the photo, the truth and the cutout, each on magenta."""
    by_id = {photo.id: photo for photo in photos}
    tiles = []
    for photo in [by_id[row["id"]] for row in sorted(rows, key=lambda r: r["iou"])[:count]]:
        alpha, _, _ = cut_out_alpha(photo.jpeg, model, "fast")
        tiles.append(np.asarray(triage.tile(Image.open(io.BytesIO(photo.jpeg)), [photo.truth, alpha], side=300)))
    return Image.fromarray(np.vstack(tiles))


def measured_for_page(real: dict[str, dict[str, Any]], photo_count: int) -> dict[str, Any]:
    """The figures the models endpoint and the page show; `best` names the partner it was measured with,
    so a server without that partner does not show them."""
    keep = ("iou", "mae", "residue", "crop_iou", "ms_per_image")

    def figures(model: str, quality: str) -> dict[str, Any]:
        shown: dict[str, Any] = {k: round(real[model][quality]["all"][k], 4) for k in keep}
        if quality == "best":
            partner = pipeline.best_partner(quality, model, BEST_PARTNER, MODEL_DIR)
            shown["partner"] = BEST_PARTNER if partner is not None else None
        return shown

    return {
        "photos": photo_count,
        "measured_on": datetime.date.today().isoformat(),
        "models": {model: {quality: figures(model, quality) for quality in QUALITIES} for model in real},
    }


def bullets(verdicts: list[tuple[str, bool]]) -> str:
    return "\n".join(f"- {'met' if holds else '**missed**'}: {line}" for line, holds in verdicts)


def main() -> int:
    try:
        photos = realphotos.load()
    except realphotos.PhotosMissing as exc:
        print(f"make quality: {exc}")
        return 2
    order = sorted(installed_models(MODEL_DIR), key=lambda name: name != SERVED_MODEL)
    real = {}
    for model in order:
        print(f"scoring {model} on {len(photos)} real photos", flush=True)
        real[model] = score_photos(model, photos)
    cases = all_cases()
    composites = [score_composites(model, cases) for model in order]
    served = real[SERVED_MODEL]
    found = triage.figures(served["fast"]["photos"], served["best"]["photos"])
    verdicts, triage_verdicts = target_verdicts(served) + int8_guard(composites), triage.verdicts(found)
    composite_rows = [[str(v) for v in row.values()] for row in composites]
    print(text_table(REAL_HEADER, real_rows(real)))
    print(text_table(COMPOSITE_HEADER, composite_rows))
    print(text_table(["confidence (issue 21)", "value"], triage.table_rows(found)))
    sizes = triage.at_other_sizes(photos, served["fast"]["photos"], SERVED_MODEL)
    print(text_table(triage.SIZES_HEADER, triage.size_rows(sizes)))
    for line, holds in verdicts + triage_verdicts:
        print(f"{'met ' if holds else 'MISSED'}  {line.replace('`', '')}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    worst_picture(SERVED_MODEL, photos, served["fast"]["photos"]).save(RESULTS / "quality-worst.jpg", quality=85)
    triage.write_pictures(photos, served["fast"]["photos"], SERVED_MODEL)
    figures = {"machine": platform.processor() or platform.machine(), "real": real, "composites": composites}
    (RESULTS / "quality.json").write_text(json.dumps(figures | {"triage": found, "triage_sizes": sizes}, indent=1))
    MEASURED_QUALITY.write_text(json.dumps(measured_for_page(real, len(photos)), indent=2) + "\n")
    (REPO / "docs" / "quality.md").write_text(
        string.Template((REPO / "bench" / "templates" / "quality.md").read_text()).substitute(
            photo_count=len(photos),
            served_model=SERVED_MODEL,
            real_table=markdown_table(REAL_HEADER, real_rows(real)),
            verdicts=bullets(verdicts),
            composite_table=markdown_table(COMPOSITE_HEADER, composite_rows),
            case_count=len(cases),
            triage_table=markdown_table(["figure", "value"], triage.table_rows(found)),
            triage_verdicts=bullets(triage_verdicts),
            triage_sizes_table=markdown_table(triage.SIZES_HEADER, triage.size_rows(sizes)),
        )
    )
    return 0 if all(holds for _, holds in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
