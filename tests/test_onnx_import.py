"""PyTorch -> ONNX -> archsim: the imported workload's float reference equals the torch model.

Each network is exported with ``torch.onnx.export`` (the TorchScript exporter, ``dynamo=False``:
it needs no onnxscript), imported by ``archsim.workload.onnx_import``, saved as a workload
file and its .npz, loaded back through the ordinary loaders, and run by
``archsim.workload.reference_forward`` (float64) on images; torch computes the same weights in
float64. Also: MatMul + Add, the DoReFa quantizer pattern, and an unsupported node (exit 2,
named, nothing written).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from archsim.cli import main  # noqa: E402
from archsim.workload import map_input, reference_forward  # noqa: E402
from archsim.workload.onnx_import import import_onnx  # noqa: E402

# the TorchScript exporter (dynamo=False) warns that it is deprecated
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _export(model: nn.Module, shape: tuple[int, ...], path: Path, **kw) -> Path:
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(1, *shape),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                      dynamo=False, **kw)
    return path


def _round_trip(model: nn.Module, shape: tuple[int, ...], tmp_path: Path, mapping: str,
                tol: float = 1e-9, **kw):
    torch.manual_seed(0)
    onnx_file = _export(model, shape, tmp_path / "m.onnx", **kw)
    wl, weights = import_onnx(onnx_file, mapping=mapping).load(tmp_path / "wl")
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(6, *wl.input.shape), dtype=np.uint8)
    ours = reference_forward(wl, weights, pixels)[-1].reshape(6, -1)
    x = torch.from_numpy(map_input(pixels, mapping)).reshape(6, *shape)
    with torch.no_grad():
        theirs = model.double()(x).numpy().reshape(6, -1)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))
    return wl


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)

    def forward(self, x):
        x = torch.tanh(nn.functional.max_pool2d(self.conv1(x), 2))
        x = torch.tanh(nn.functional.max_pool2d(self.conv2(x), 2))
        return self.fc2(torch.tanh(self.fc1(torch.flatten(x, 1))))


class SmallCNN(nn.Module):
    """Stride 2, padding 1, batch norm, ReLU, a residual add, average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 10)
        for bn in (self.bn1, self.bn2):  # non-trivial running statistics
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)

    def forward(self, x):
        a = torch.relu(self.bn1(self.conv1(x)))  # 8 x 8 x 8
        b = torch.relu(self.bn2(self.conv2(a)) + a)  # a residual connection
        return self.fc(torch.flatten(nn.functional.avg_pool2d(b, 2), 1))  # 8 x 4 x 4


def test_lenet5_round_trip(tmp_path: Path) -> None:
    wl = _round_trip(LeNet5(), (1, 28, 28), tmp_path, "bipolar")
    assert [op.kind for op in wl.ops] == ["conv2d", "maxpool", "btanh", "conv2d", "maxpool",
                                          "btanh", "flatten", "dense", "btanh", "dense"]
    assert [op.name for op in wl.weighted_ops] == ["conv1", "conv2", "fc1", "fc2"]


def test_mlp_round_trip(tmp_path: Path) -> None:
    mlp = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                        nn.Linear(32, 10))
    wl = _round_trip(mlp, (784,), tmp_path, "unipolar")
    assert wl.input.shape == (1, 28, 28)  # a flat 784 input is a 28 x 28 image
    assert [op.kind for op in wl.ops] == ["flatten", "dense", "relu", "dense", "relu",
                                          "dense"]


def test_small_cnn_with_stride_padding_batchnorm(tmp_path: Path) -> None:
    # batch norm kept as nodes (no constant folding into the convolutions)
    wl = _round_trip(SmallCNN(), (3, 16, 16), tmp_path, "unipolar",
                     do_constant_folding=False)
    kinds = [op.kind for op in wl.ops]
    assert kinds.count("batchnorm") == 2 and "add" in kinds and "avgpool" in kinds
    conv1 = wl.op("conv1")
    assert conv1.stride == (2, 2) and conv1.padding == (1, 1)
    assert not wl.op("conv2").bias
    # folded by the exporter into the convolutions (in float32): the same function, to the
    # float32 rounding of the folded weights
    folded = _round_trip(SmallCNN(), (3, 16, 16), tmp_path / "folded", "unipolar", tol=1e-6)
    assert "batchnorm" not in [op.kind for op in folded.ops]


class MatMulNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(784, 10) * 0.05)
        self.b = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x):
        q = torch.round(torch.clamp(x, 0, 1) * 15) / 15  # DoReFa, 4 bits
        return q @ self.w + self.b


def test_matmul_add_and_quantizer(tmp_path: Path) -> None:
    wl = _round_trip(MatMulNet(), (784,), tmp_path, "unipolar")
    assert [op.kind for op in wl.ops] == ["flatten", "quantize", "dense"]
    assert wl.ops[1].bits == 4 and wl.ops[2].bias


def test_unsupported_node_exit_2_naming_it(tmp_path: Path, capsys) -> None:
    net = nn.Sequential(nn.Linear(784, 16), nn.Sigmoid(), nn.Linear(16, 10))
    onnx_file = _export(net, (784,), tmp_path / "sig.onnx")
    rc = main(["import-onnx", str(onnx_file), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Sigmoid" in err and "graph.node[1]" in err and "sig.onnx" in err
    assert not (tmp_path / "out").exists()


def test_cli_import_writes_a_loadable_workload(tmp_path: Path) -> None:
    onnx_file = _export(LeNet5(), (1, 28, 28), tmp_path / "lenet.onnx")
    assert main(["import-onnx", str(onnx_file), "--out", str(tmp_path / "w"), "--mapping",
                 "bipolar", "--dataset", "mnist", "--clip", "1.0"]) == 0
    from archsim.workload import load_weights, load_workload

    wl = load_workload(tmp_path / "w" / "lenet.yaml")
    assert wl.dataset.name == "mnist" and wl.model.clip == 1.0
    assert load_weights(wl)["fc2"].w.shape == (10, 500)
