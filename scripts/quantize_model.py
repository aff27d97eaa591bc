"""Make <name>-int8.onnx, an int8 copy of a U²-Net model, with onnxruntime's own quantization tools.

Static QDQ quantization: int8 weights per output channel (7 bits of range, so that CPUs
without VNNI do not overflow), uint8 activations with
ranges from MinMax calibration on photos shipped in scikit-image. Some nodes stay in
float, found in the model itself rather than named, so the same steps serve any
U²-Net-family model (u2netp, u2net, u2net_human_seg, silueta):

- convolutions whose input has channels of very uneven range: one uint8 scale covers
  the whole tensor, so when the typical live channel spans under a tenth of the
  tensor's range (fewer than ~25 of the 256 levels) it is all but erased. Measured as
  the per-channel maximum over the calibration photos. In u2netp this is Conv_787, the
  last convolution of the second decoder stage: one input channel reaches ~228 while
  the median stays near 14; quantized, the mask's IoU with fp32's falls to 0.66. The
  other nodes that read or make that input stay in float as well, or the tensor would
  be quantized on its way in;
- the fusion of the side outputs into the mask: the convolution before the first
  output's sigmoid, and the Concat feeding it.

For u2netp it runs about 2.7x as fast as fp32 on one thread; `make quality` holds each
int8 copy against its fp32 model on composites with known alpha (docs/quality.md).

Usage: python scripts/quantize_model.py U2NET_HOME [NAME]
    reads NAME.onnx there (default u2netp), writes NAME-int8.onnx
"""

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

QUANTIZED_OPS = ["Conv", "Relu", "MaxPool", "Concat", "Resize", "Add"]
# A convolution stays in float when its median live input channel spans less than this share of the
# tensor's range: u2netp's Conv_787 measures 0.06, the next of its convolutions 0.13.
UNEVEN_RANGE = 0.1
# Photos in scikit-image's wheel (a dependency of rembg), each seen whole, mirrored and cropped.
CALIBRATION_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "camera.png",
)
CROPS = ((0.0, 0.0, 1.0, 1.0), (0.0, 0.05, 0.9, 0.95), (0.1, 0.0, 1.0, 0.9))
SIDE = 320
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def calibration_images() -> Iterator[Image.Image]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    for name in CALIBRATION_PHOTOS:
        with Image.open(data / name) as opened:
            photo = opened.convert("RGB")
        for index, (left, top, right, bottom) in enumerate(CROPS):
            width, height = photo.size
            crop = photo.crop((int(left * width), int(top * height), int(right * width), int(bottom * height)))
            yield ImageOps.mirror(crop) if index == 1 else crop


def model_input(image: Image.Image) -> np.ndarray:
    """rembg's normalisation for the U²-Net models (removal.cutout.u2net): all of them see 320x320."""
    pixels = np.array(image.resize((SIDE, SIDE), Image.Resampling.LANCZOS))
    pixels = pixels / max(np.max(pixels), 1e-6)
    planes = np.stack([(pixels[:, :, channel] - MEAN[channel]) / STD[channel] for channel in range(3)])
    return planes[None].astype(np.float32)


def prepare(source: Path, prepared: Path) -> None:
    """The model as quantization needs it: opset 13, BatchNorm folded, every node named."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # rembg's exports are opset 11; per-channel QDQ (DequantizeLinear with `axis`) needs 13.
    upgraded = prepared.with_name("opset13.onnx")
    onnx.save(version_converter.convert_version(onnx.load(str(source)), 13), str(upgraded))
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared))
    if any(not node.name for node in model.graph.node):  # exclusion goes by name
        for index, node in enumerate(model.graph.node):
            node.name = node.name or f"{node.op_type}_unnamed_{index}"
        onnx.save(model, str(prepared))


def channel_ranges(model: Any, tensors: list[str], feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The largest magnitude each channel of `tensors` reaches over the calibration feeds."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in tensors
    )
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    ranges: dict[str, np.ndarray] = {}
    for feed in feeds:
        for name, value in zip(tensors, session.run(tensors, feed), strict=True):
            per_channel = np.abs(value).max(axis=tuple(axis for axis in range(value.ndim) if axis != 1))
            ranges[name] = np.maximum(ranges[name], per_channel) if name in ranges else per_channel
    return ranges


def uneven(per_channel: np.ndarray) -> bool:
    """Whether one uint8 scale for the tensor would leave its typical live channel a few levels."""
    live = per_channel[per_channel > 0]
    return live.size > 1 and float(np.median(live)) < UNEVEN_RANGE * float(live.max())


def float_nodes(model: Any, feeds: list[dict[str, np.ndarray]]) -> list[str]:
    """Names of the nodes to keep in float (see the module docstring)."""
    nodes = list(model.graph.node)
    producer = {output: node for node in nodes for output in node.output}
    readers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    initializers = {tensor.name for tensor in model.graph.initializer}
    convolutions = [node for node in nodes if node.op_type == "Conv" and node.input[0] not in initializers]
    ranges = channel_ranges(model, sorted({node.input[0] for node in convolutions}), feeds)
    keep: set[str] = set()
    for conv in convolutions:
        if uneven(ranges[conv.input[0]]):
            touching = [*readers[conv.input[0]], *([producer[conv.input[0]]] if conv.input[0] in producer else [])]
            keep.update(node.name for node in touching if node.op_type in QUANTIZED_OPS)
    # The fusion: back from the mask output through ops that are not quantized to its convolution.
    node = producer.get(model.graph.output[0].name)
    while node is not None and node.op_type != "Conv":
        node = producer.get(node.input[0])
    if node is not None:
        keep.add(node.name)
        if node.input[0] in producer and producer[node.input[0]].op_type == "Concat":
            keep.add(producer[node.input[0]].name)
    return sorted(keep)


def quantize(source: Path, target: Path) -> list[str]:
    """Write the int8 copy of `source` to `target`; returns the nodes kept in float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        prepare(source, prepared)
        model = onnx.load(str(prepared))
        input_name = model.graph.input[0].name
        feeds = [{input_name: model_input(image)} for image in calibration_images()]
        keep_float = float_nodes(model, feeds)
        del model

        class Photos(CalibrationDataReader):
            def __init__(self) -> None:
                self.feeds = iter(feeds)

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.feeds, None)

        partial = target.with_name(target.name + ".part")
        try:
            quantize_static(
                str(prepared),
                str(partial),
                Photos(),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=QUANTIZED_OPS,
                per_channel=True,
                # 7-bit weights: on CPUs without VNNI (AVX2 only, e.g. many AMD EPYC) onnxruntime's
                # uint8 x int8 kernels add pairs of products in 16 bits, which 8-bit weights overflow.
                # There, 8-bit weights cost u2netp-int8 0.016 IoU on the real photos (0.794 against
                # fp32's 0.810); 7-bit weights give 0.809, at the same speed (docs/quality.md).
                reduce_range=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=keep_float,
            )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    return keep_float


def main(model_dir: Path, name: str = "u2netp") -> int:
    source, target = model_dir / f"{name}.onnx", model_dir / f"{name}-int8.onnx"
    if not source.is_file():
        print(f"{source} is missing (install it first: manage.py models pull {name})", file=sys.stderr)
        return 1
    if target.is_file():
        print(f"int8 model present: {target}")
        return 0
    print(f"making the int8 copy of {name} (under a minute for u2netp, a few for u2net, once)")
    try:
        keep_float = quantize(source, target)
    except Exception as exc:  # onnx/onnxruntime raise many kinds for a file that is not a usable model
        print(f"cannot quantize {source}: {exc}", file=sys.stderr)
        return 1
    size = target.stat().st_size / 1e6
    print(f"int8 model written: {target} ({size:.1f} MB; kept in float: {', '.join(keep_float)})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), *sys.argv[2:]))
