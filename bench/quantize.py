"""Cheaper u2netp runs, timed and compared with the fp32 model at 320x320: an int8 copy made with
onnxruntime's own quantization tools, and the same model fed smaller inputs (288, 256).

Runs in bench/.venv-rembg (it needs the `onnx` package, which bgsite does not ship):
    python -m bench.quantize OUT_DIR CALIBRATION_EVERY IMAGE...
Static quantization (QOperator, per-channel int8 weights, uint8 activations) of the
Conv layers, calibrated on a subset of the bench photos; the convolutions that make
the seven side outputs stay in float. Agreement is with the fp32 model's mask
(IoU at 0.5 on the photos where fp32 finds a subject covering at least 5 %,
and mean absolute alpha error out of 255), not with ground truth: `make quality`
has the ground truth.
"""

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import MODEL_DIR

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def model_input(path: Path, side: int = 320) -> np.ndarray:
    """rembg's normalisation of an image for u2netp."""
    with Image.open(path) as image:
        pixels = np.array(image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
    pixels = pixels / max(np.max(pixels), 1e-6)
    planes = np.stack([(pixels[:, :, c] - MEAN[c]) / STD[c] for c in range(3)])
    return planes[None].astype(np.float32)


def side_output_convs(model: Any) -> list[str]:
    producers = {output: node for node in model.graph.node for output in node.output}
    excluded = []
    for node in model.graph.node:
        if node.op_type != "Sigmoid":
            continue
        source = producers[node.input[0]]
        while source.op_type != "Conv":
            source = producers[source.input[0]]
        excluded.append(source.name)
    return excluded


def quantize(out_dir: Path, calibration: list[Path]) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_dir.mkdir(parents=True, exist_ok=True)
    prepared, target = out_dir / "u2netp-prepared.onnx", out_dir / "u2netp-int8.onnx"
    quant_pre_process(str(MODEL_DIR / "u2netp.onnx"), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared))
    input_name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{input_name: model_input(path)} for path in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    quantize_static(
        str(prepared),
        str(target),
        Reader(),
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=["Conv"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=side_output_convs(model),
    )
    return target


def session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def masks_and_times(path: Path, feeds: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    model = session(path)
    name = model.get_inputs()[0].name
    model.run(None, {name: feeds[0]})
    masks, times = [], []
    for feed in feeds:
        started = time.perf_counter()
        prediction = model.run(None, {name: feed})[0][0, 0]
        times.append((time.perf_counter() - started) * 1000)
        prediction = (prediction - prediction.min()) / (prediction.max() - prediction.min())
        if prediction.shape != (320, 320):  # compare at the reference size, as the mask is upscaled anyway
            resized = Image.fromarray((prediction * 255).astype("uint8")).resize((320, 320), Image.Resampling.LANCZOS)
            prediction = np.asarray(resized) / 255
        masks.append(prediction)
    return masks, times


def agreement(reference: list[np.ndarray], candidate: list[np.ndarray]) -> dict[str, float]:
    ious, maes = [], []
    for a, b in zip(reference, candidate, strict=True):
        if (a > 0.5).mean() < 0.05:
            continue  # no real subject (a star field, a retina): IoU says nothing there
        ious.append(float(((a > 0.5) & (b > 0.5)).sum() / ((a > 0.5) | (b > 0.5)).sum()))
        maes.append(float(np.abs(a - b).mean()) * 255)
    return {
        "with_subject": len(ious),
        "mask_iou_vs_fp32": round(statistics.fmean(ious), 3),
        "mask_iou_vs_fp32_min": round(min(ious), 3),
        "alpha_mae_vs_fp32_of_255": round(statistics.fmean(maes), 2),
    }


def any_size_copy(out_dir: Path) -> Path:
    """The model with its input's height and width made symbolic (its resizes follow the input)."""
    import onnx

    model = onnx.load(str(MODEL_DIR / "u2netp.onnx"))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "height", "width"
    target = out_dir / "u2netp-any-size.onnx"
    onnx.save(model, str(target))
    return target


def main() -> None:
    out_dir, every, images = Path(sys.argv[1]), int(sys.argv[2]), [Path(arg) for arg in sys.argv[3:]]
    calibration, compared = images[1::every], images[::2]
    started = time.perf_counter()
    int8 = quantize(out_dir, calibration)
    quantize_s = time.perf_counter() - started
    feeds = [model_input(path) for path in compared]
    reference, fp32_ms = masks_and_times(MODEL_DIR / "u2netp.onnx", feeds)
    candidate, int8_ms = masks_and_times(int8, feeds)
    smaller = {}
    any_size = any_size_copy(out_dir)
    for side in (288, 256):
        masks, times = masks_and_times(any_size, [model_input(path, side) for path in compared])
        smaller[str(side)] = {"run_ms_p50": round(statistics.median(times), 1), **agreement(reference, masks)}
    print(
        json.dumps(
            {
                "compared_images": len(compared),
                "calibration_images": len(calibration),
                "quantize_s": round(quantize_s, 1),
                "fp32_run_ms_p50": round(statistics.median(fp32_ms), 1),
                "int8_run_ms_p50": round(statistics.median(int8_ms), 1),
                "speedup": round(statistics.median(fp32_ms) / statistics.median(int8_ms), 2),
                **agreement(reference, candidate),
                "model_mb": round(int8.stat().st_size / 1e6, 2),
                "smaller_inputs": smaller,
            }
        )
    )


if __name__ == "__main__":
    main()
