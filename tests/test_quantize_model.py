"""scripts/quantize_model.py: an int8 copy of any U²-Net-family model, with the nodes to keep in float found in it."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from django.conf import settings
from onnx import TensorProto, helper, numpy_helper

from scripts import quantize_model

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "quantize_model.py"


def run(model_dir: Path, *name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(model_dir), *name], capture_output=True, text=True, check=False
    )


def tiny_u2net_like_model() -> onnx.ModelProto:
    """A small graph with names of its own: one convolution reads a tensor whose channel 0 is 200x the
    others (as u2netp's Conv_787 does), and the mask is a sigmoid over a convolution of a Concat."""
    rng = np.random.default_rng(0)

    def weight(name: str, out_channels: int, in_channels: int, scale: np.ndarray | float = 1.0) -> onnx.TensorProto:
        values = rng.uniform(0.5, 1.0, (out_channels, in_channels, 1, 1)) * np.reshape(scale, (-1, 1, 1, 1))
        return numpy_helper.from_array(values.astype(np.float32), name)

    spread = np.ones(8)
    spread[0] = 200.0
    nodes = [
        helper.make_node("Conv", ["image", "w_in"], ["h"], name="conv_in"),
        helper.make_node("Relu", ["h"], ["h_relu"], name="relu_in"),
        helper.make_node("Conv", ["h_relu", "w_spread"], ["s"], name="conv_spread"),
        helper.make_node("Relu", ["s"], ["s_relu"], name="relu_spread"),
        helper.make_node("Conv", ["s_relu", "w_uneven"], ["u"], name="conv_uneven"),
        helper.make_node("Concat", ["u", "h_relu"], ["sides"], name="concat_sides", axis=1),
        helper.make_node("Conv", ["sides", "w_fuse"], ["fused"], name="conv_fuse"),
        helper.make_node("Sigmoid", ["fused"], ["mask"], name="sigmoid_mask"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 320, 320])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 320, 320])],
        [
            weight("w_in", 8, 3),
            weight("w_spread", 8, 8, spread),
            weight("w_uneven", 4, 8),
            weight("w_fuse", 1, 12, -0.05),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def test_finds_the_uneven_convolution_and_the_fusion_in_a_model_it_was_not_written_for(tmp_path: Path) -> None:
    onnx.save(tiny_u2net_like_model(), str(tmp_path / "tiny.onnx"))
    done = run(tmp_path, "tiny")
    assert done.returncode == 0, done.stderr
    # The convolution reading the uneven tensor and the Relu making it; the fusion and its Concat.
    assert "kept in float: concat_sides, conv_fuse, conv_uneven, relu_spread" in done.stdout
    copy = onnx.load(str(tmp_path / "tiny-int8.onnx"))
    quantized_inputs = {name for node in copy.graph.node if node.op_type == "DequantizeLinear" for name in node.output}
    convolutions = {node.name: node for node in copy.graph.node if node.op_type == "Conv"}
    assert convolutions["conv_in"].input[0] in quantized_inputs
    assert convolutions["conv_spread"].input[0] in quantized_inputs
    assert convolutions["conv_uneven"].input[0] == "s_relu"  # read in float
    assert convolutions["conv_fuse"].input[0] == "sides"
    session = ort.InferenceSession(str(tmp_path / "tiny-int8.onnx"), providers=["CPUExecutionProvider"])
    (mask,) = session.run(None, {"image": np.zeros((1, 3, 320, 320), np.float32)})
    assert mask.shape == (1, 1, 320, 320)
    assert not (tmp_path / "tiny-int8.onnx.part").exists()


def test_finds_in_u2netp_the_nodes_it_used_to_be_told(tmp_path: Path) -> None:
    prepared = tmp_path / "prepared.onnx"
    quantize_model.prepare(settings.U2NET_HOME / "u2netp.onnx", prepared)
    model = onnx.load(str(prepared))
    # One crop of each calibration photo: the same nodes as from all 30 crops (setup's run), in a third of the time.
    images = list(quantize_model.calibration_images())[:: len(quantize_model.CROPS)]
    feeds = [{model.graph.input[0].name: quantize_model.model_input(image)} for image in images]
    assert len(feeds) == len(quantize_model.CALIBRATION_PHOTOS)
    assert quantize_model.float_nodes(model, feeds) == ["Concat_1046", "Concat_786", "Conv_1047", "Conv_787"]


def test_refuses_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "u2netp.onnx").write_bytes(b"not the model")
    done = run(tmp_path)
    assert done.returncode == 1
    assert "cannot quantize" in done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["u2netp.onnx"]


def test_a_missing_model_names_the_command_that_installs_it(tmp_path: Path) -> None:
    done = run(tmp_path, "u2net")
    assert done.returncode == 1
    assert "manage.py models pull u2net" in done.stderr


def test_leaves_an_existing_copy_alone(tmp_path: Path) -> None:
    shutil.copy(settings.U2NET_HOME / "u2netp.onnx", tmp_path / "u2netp.onnx")
    (tmp_path / "u2netp-int8.onnx").write_bytes(b"made earlier")
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "present" in done.stdout
    assert (tmp_path / "u2netp-int8.onnx").read_bytes() == b"made earlier"
