"""Make u2netp-int8.onnx, an int8 copy of the bundled u2netp, with onnxruntime's own quantization tools.

Static QDQ quantization: int8 weights per output channel, uint8 activations with
ranges from MinMax calibration on photos shipped in scikit-image. Four nodes stay
in float: Conv_787, the last convolution of the second decoder stage, whose input
has one channel near 228 while the other 31 stay under ~10, so one uint8 scale
for the tensor would erase them (quantized, the mask's IoU with fp32's falls to
0.66); the Concat feeding it (or the tensor is quantized on its way in); and the
fusion of the side outputs into the mask. The node names are those of rembg's
u2netp.onnx, hence its md5 check.

It runs about 2.7x as fast as fp32 on one thread; `make quality` holds it
against fp32 on composites with known alpha (docs/quality.md).

Usage: python scripts/quantize_model.py U2NET_HOME   (reads u2netp.onnx there, writes u2netp-int8.onnx)
"""

import hashlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SOURCE_MD5 = "8e83ca70e441ab06c318d82300c84806"
FLOAT_NODES = ["Concat_786", "Conv_787", "Concat_1046", "Conv_1047"]
QUANTIZED_OPS = ["Conv", "Relu", "MaxPool", "Concat", "Resize", "Add"]
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


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


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
    """rembg's normalisation for u2netp (removal.u2net)."""
    pixels = np.array(image.resize((SIDE, SIDE), Image.Resampling.LANCZOS))
    pixels = pixels / max(np.max(pixels), 1e-6)
    planes = np.stack([(pixels[:, :, channel] - MEAN[channel]) / STD[channel] for channel in range(3)])
    return planes[None].astype(np.float32)


def quantize(source: Path, target: Path) -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as work:
        # The export is opset 11; per-channel QDQ (DequantizeLinear with `axis`) needs 13.
        upgraded, prepared = Path(work) / "opset13.onnx", Path(work) / "prepared.onnx"
        onnx.save(version_converter.convert_version(onnx.load(str(source)), 13), str(upgraded))
        quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)  # folds BatchNorm into Conv
        input_name = onnx.load(str(prepared)).graph.input[0].name

        class Photos(CalibrationDataReader):
            def __init__(self) -> None:
                self.feeds = ({input_name: model_input(image)} for image in calibration_images())

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.feeds, None)

        partial = target.with_name(target.name + ".part")
        quantize_static(
            str(prepared),
            str(partial),
            Photos(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=QUANTIZED_OPS,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=FLOAT_NODES,
        )
        partial.replace(target)


def main(model_dir: Path) -> int:
    source, target = model_dir / "u2netp.onnx", model_dir / "u2netp-int8.onnx"
    if not source.is_file() or md5_of(source) != SOURCE_MD5:
        print(f"{source} is missing or not the bundled u2netp (run scripts/fetch_model.py first)", file=sys.stderr)
        return 1
    if target.is_file():
        print(f"int8 model present: {target}")
        return 0
    print("making the int8 copy of u2netp (about 15 s, once)")
    quantize(source, target)
    print(f"int8 model written: {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
