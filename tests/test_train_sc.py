"""The SC hardware model the trainer uses (archsim.train.sc) and the trainer itself.

The APC expectations against brute-force sums of Kim's OR/AND pair probabilities (unshared,
MUX-shared, convolution windows with stride and padding); the stream-level quantizer against
the stored stream's value; segment max pooling's limits; the model with exact counters,
unquantized weights and unit gains against the workload's float reference; calibration and a
short fine-tuning run through ``archsim train`` on a small design.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from archsim.train.model import HardwareModel, QuantizerModel, TorchWorkload  # noqa: E402
from archsim.train.sc import (  # noqa: E402
    LayerHW,
    SCModel,
    apc_inner,
    apc_inner_numpy,
    apc_inner_shared,
    apc_inner_shared_numpy,
    quantize_stream_weight,
    soft_segment_pool,
)
from archsim.workload import (  # noqa: E402
    load_weights,
    load_workload,
    map_input,
    reference_forward,
    workload_from_dict,
)

REPO = Path(__file__).resolve().parents[1]


def brute_z_apc(x: np.ndarray, w: np.ndarray, b: float) -> float:
    """z = 2 E_apc - n of one neuron: inputs x (K,), weights w (K,), bias b (input +1)."""
    xs = list(x) + [1.0]
    ws = list(w) + [b]
    p = [(1.0 + xi * wi) / 2.0 for xi, wi in zip(xs, ws, strict=True)]
    n = len(p)
    e = 0.0
    for j in range(n // 2):
        pa, pb = p[2 * j], p[2 * j + 1]
        g = pa + pb - pa * pb if j % 2 == 0 else pa * pb
        e += 2.0 * g
    if n % 2:
        e += p[-1]
    return 2.0 * e - n


def brute_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Valid conv, each window flattened in (c, ky, kx) order; x (C,H,W) -> (F,Ho,Wo)."""
    f, c, k, _ = w.shape
    ho, wo = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((f, ho, wo))
    for fi in range(f):
        for y in range(ho):
            for xx in range(wo):
                win = x[:, y : y + k, xx : xx + k].reshape(-1)
                out[fi, y, xx] = brute_z_apc(win, w[fi].reshape(-1), b[fi])
    return out



@pytest.mark.parametrize("fan_in", [1, 2, 5, 6, 7, 24, 25])
def test_fc_apc_matches_brute_force(fan_in):
    """n = fan_in + 1 covers odd and even n (bias unpaired or paired)."""
    rng = np.random.default_rng(fan_in)
    x = rng.uniform(-1, 1, (3, fan_in))
    w = rng.uniform(-1, 1, (4, fan_in))
    b = rng.uniform(-1, 1, 4)
    want = np.array([[brute_z_apc(x[i], w[f], b[f]) for f in range(4)] for i in range(3)])
    got_t = apc_inner(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got_t, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(apc_inner_numpy(x, w, b), want, rtol=0, atol=1e-12)
    if fan_in >= 3:  # the APC is not the exact sum
        assert np.max(np.abs(want - (x @ w.T + b))) > 1e-3


def brute_shared_apc(x: np.ndarray, w: np.ndarray, b: float, groups: int) -> float:
    """Sum over MUX phases of 2 E - G for one neuron of a MUX-shared FC with Kim's APC.

    Slot k of phase m carries input k + G m (bias last, input +1); slots past the fan-in
    carry one shared bipolar-zero stream (p = 1/2), so two such slots are the same stream."""
    p = [(1.0 + xi * wi) / 2.0 for xi, wi in zip([*x, 1.0], [*w, b], strict=True)]
    n = len(p)
    z = 0.0
    for m in range(-(-n // groups)):
        idx = [groups * m + k for k in range(groups)]
        e = 0.0
        for j in range(groups // 2):
            ia, ib = idx[2 * j], idx[2 * j + 1]
            if ia >= n and ib >= n:
                g = 0.5  # the same pad stream twice: OR = AND = that stream
            else:
                pa = p[ia] if ia < n else 0.5
                pb = p[ib] if ib < n else 0.5
                g = pa + pb - pa * pb if j % 2 == 0 else pa * pb
            e += 2.0 * g
        if groups % 2:
            e += p[idx[-1]] if idx[-1] < n else 0.5
        z += 2.0 * e - groups
    return z



@pytest.mark.parametrize(("k", "groups"), [(10, 4), (11, 5), (24, 25), (30, 7)])
def test_shared_apc_expectation(k, groups):
    rng = np.random.default_rng(k * 100 + groups)
    x = rng.uniform(-1, 1, size=(3, k))
    w = rng.uniform(-1, 1, size=(4, k))
    b = rng.uniform(-1, 1, size=4)
    want = np.array([[brute_shared_apc(xi, wf, bf, groups) for wf, bf in zip(w, b, strict=True)]
                     for xi in x])
    np.testing.assert_allclose(apc_inner_shared_numpy(x, w, b, groups), want, atol=1e-9)
    got = apc_inner_shared(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), groups)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-9)


def _conv_workload(c: int, k: int, stride: int, padding: int):
    return workload_from_dict({
        "name": "t", "input": {"shape": [c, 7, 6], "mapping": "bipolar"},
        "ops": [{"name": "conv1", "op": "conv2d", "out_channels": 3, "kernel": k,
                 "stride": stride, "padding": padding}]})


@pytest.mark.parametrize("c,k,stride,padding", [(1, 5, 1, 0), (2, 3, 1, 0), (3, 2, 2, 0),
                                                 (2, 3, 2, 1), (1, 1, 1, 0)])
def test_conv_apc_matches_brute_force(c, k, stride, padding):
    """Windows in (c, ky, kx) order, bias last; padded inputs are bipolar zeros (q = 0)."""
    wl = _conv_workload(c, k, stride, padding)
    op = wl.op("conv1")
    rng = np.random.default_rng(10 * c + k + stride)
    x = rng.uniform(-1, 1, (2, c, 7, 6))
    w = rng.uniform(-1, 1, (3, c, k, k))
    b = rng.uniform(-1, 1, 3)
    xp = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    _, ho, wo = op.out_shape
    want = np.zeros((2, 3, ho, wo))
    for i in range(2):
        for f in range(3):
            for yy in range(ho):
                for xx in range(wo):
                    win = xp[i, :, yy * stride:yy * stride + k, xx * stride:xx * stride + k]
                    want[i, f, yy, xx] = brute_z_apc(win.reshape(-1), w[f].reshape(-1), b[f])
    hw = SCModel({"conv1": LayerHW("apc", 0, 0, c * k * k + 1, 0, last=True)}, 1024,
                 noise_scale=0.0)
    got = hw.weighted(op, torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), False)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)


def test_stream_weight_levels_match_the_stored_stream():
    """An L-bit stream with round((w+1)/2 L) ones decodes to the quantized value."""
    w = torch.linspace(-1, 1, 1001, requires_grad=True)
    q = quantize_stream_weight(w, 128)
    ones = np.round((w.detach().numpy() + 1) / 2 * 128)
    np.testing.assert_allclose(q.detach().numpy(), 2 * ones / 128 - 1, atol=1e-6)
    q.sum().backward()  # straight-through gradient
    np.testing.assert_allclose(w.grad.numpy(), 1.0)
    assert quantize_stream_weight(w, 0) is w
    # a weight on the 32-level grid is exact at every longer power-of-two length
    g = torch.tensor([-1.0, -0.5, 0.0625, 0.75, 1.0])
    for levels in (64, 128, 1024):
        torch.testing.assert_close(quantize_stream_weight(quantize_stream_weight(g, 32),
                                                          levels), quantize_stream_weight(g, 32))


def test_soft_segment_pool_limits():
    z = torch.randn(2, 3, 4, 6)
    exact = torch.nn.functional.max_pool2d(z, 2)
    torch.testing.assert_close(soft_segment_pool(z, (2, 2), (2, 2), 0.0), exact)
    torch.testing.assert_close(soft_segment_pool(z, (2, 2), (2, 2), 1e-4), exact, atol=1e-3,
                               rtol=0)
    mean = torch.nn.functional.avg_pool2d(z, 2)
    torch.testing.assert_close(soft_segment_pool(z, (2, 2), (2, 2), 1e6), mean, atol=1e-4,
                               rtol=0)
    soft = soft_segment_pool(z, (2, 2), (2, 2), 1.0)
    assert torch.all(soft <= exact + 1e-6) and torch.all(soft >= mean - 1e-6)


def test_torch_workload_is_the_float_reference():
    """The base model (and the SC model with exact counters, no quantization, exact pooling
    and unit gains) computes what reference_forward computes, for LeNet-5 and a CNN with
    batch norm, strides, padding and a residual add."""
    for path in ("arch_configs/workloads/lenet5.yaml", "arch_configs/workloads/small_cnn32.yaml"):
        wl = load_workload(REPO / path, ["model.weights=random"])
        weights = load_weights(wl)
        pixels = np.random.default_rng(0).integers(0, 256, (3, *wl.input.shape), np.uint8)
        want = reference_forward(wl, weights, pixels)[-1].reshape(3, -1)
        x = torch.from_numpy(map_input(pixels, wl.input.mapping))
        models = [HardwareModel()]
        if path.endswith("lenet5.yaml"):
            models.append(SCModel({op.name: LayerHW("pc", 0, 0, op.counter_inputs, 0)
                                   for op in wl.weighted_ops}, 1024, noise_scale=0.0))
        for hw in models:
            net = TorchWorkload(wl, weights, hw).double()
            with torch.no_grad():
                got = net(x).numpy()
            if any(op.kind in ("quantize", "sign") for op in wl.ops):
                assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.5
            else:
                # the trainable parameters are float32: equal to their rounding
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
                assert np.array_equal(got.argmax(1), want.argmax(1))


def test_quantizer_model_uses_the_workload_grid():
    w = torch.tensor([[0.5, -0.25, 0.1, -1.0]], requires_grad=True)
    op = workload_from_dict({"name": "q", "input": {"shape": [1, 1, 4], "mapping": "raw"},
                             "ops": [{"name": "flatten", "op": "flatten"},
                                     {"name": "fc", "op": "dense", "outputs": 1}]}).op("fc")
    q = QuantizerModel({"fc": 3}).weight(op, w)  # step 1/3: codes -2..2 of 1/3
    np.testing.assert_allclose(q.detach().numpy(), [[2 / 3, -1 / 3, 0.0, -1.0]], atol=1e-7)
    q.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 1.0)


@pytest.mark.skipif(not os.environ.get("ARCHSIM_DATA"),
                    reason="trains on MNIST training images: set ARCHSIM_DATA (CI does)")
def test_train_cli_calibrates_and_writes_a_model_the_design_runs(tmp_path):
    """archsim train on a small MNIST MLP design: calibration measures every Btanh, one
    epoch on 600 images writes an .npz the design loads and runs."""
    import json

    from archsim.cli import main

    design = tmp_path / "mlp.yaml"
    design.write_text(f"""
name: mlp
include: {REPO}/arch_configs/tech/generic45.yaml
clock: 200 MHz
dataset: {{name: mnist, images: 4}}
model: {{weights: random}}
stream: {{length: 128, rng: {{kind: lfsr}}, comparator: gt}}
memories: {{weights: {{kind: sram, power_cycles: 1}}}}
layers:
  - {{name: fc1, kind: fc, inputs: 784, outputs: 16, counter: apc,
     weights: {{memory: weights, format: stochastic, length: 64}}}}
  - {{name: fc2, kind: fc, inputs: 16, outputs: 10, activation: none, counter: apc,
     weights: {{memory: weights, format: stochastic, length: 64}}}}
""", encoding="utf-8")
    out = tmp_path / "m.npz"
    rc = main(["train", str(design), "--out", str(out), "--epochs", "1", "--max-train", "600",
               "--val-count", "100", "--calibrate", "20", "--threads", "1", "--quiet"])
    assert rc == 0
    with np.load(out) as npz:
        meta = json.loads(str(npz["metadata"]))
        assert set(npz.files) == {"fc1_w", "fc1_b", "fc2_w", "fc2_b", "metadata"}
        assert np.all(np.abs(npz["fc1_w"]) <= 1.0)
    cal = meta["hardware_model"]["calibration"]["layers"]
    assert set(cal) == {"fc1", "fc2"}
    assert cal["fc1"]["error_after"] <= cal["fc1"]["error_before"]
    # the last layer's spread about the model is measured, not fitted without the flag
    assert cal["fc2"]["noise_std_measured"] > 0 and "noise_scale" not in cal["fc2"]
    assert meta["hardware_model"]["noise_scale"] == 1.0
    assert meta["hardware_model"]["layers"]["fc1"]["counter"] == "apc"
    assert len(meta["history"]) == 1
    assert main(["run", str(design), "--set", f"model.weights={out}", "--images", "2",
                 "--out", str(tmp_path / "run"), "--quiet", "--jobs", "1"]) == 0
    # --calibrate-noise trains with the measured spread: noise_scale sqrt(n / L) = measured
    out2 = tmp_path / "m2.npz"
    assert main(["train", str(design), "--out", str(out2), "--epochs", "0", "--max-train",
                 "600", "--val-count", "100", "--calibrate", "20", "--calibrate-noise",
                 "--threads", "1", "--quiet"]) == 0
    with np.load(out2) as npz:
        hw2 = json.loads(str(npz["metadata"]))["hardware_model"]
    fc2 = hw2["calibration"]["layers"]["fc2"]
    unit = np.sqrt(hw2["layers"]["fc2"]["inputs"] / hw2["stream_length"])
    # (the model's unit is computed in float32)
    assert hw2["noise_scale"] * unit == pytest.approx(fc2["noise_std_measured"], rel=1e-6)
    assert hw2["noise_scale"] == pytest.approx(fc2["noise_scale"], rel=1e-12)
    # a bad hardware-model attribute is a clear error, exit 2
    assert main(["train", str(design), "--out", str(tmp_path / "x.npz"), "--tune",
                 "nope=1", "--epochs", "0", "--calibrate", "0", "--quiet"]) == 2


def test_registry_picks_the_fabric_model_and_falls_back_to_the_quantizers():
    from types import SimpleNamespace

    from archsim.config.errors import ConfigError
    from archsim.train import registry

    assert "sc_stream" in registry.registered()
    wl = workload_from_dict({"name": "q", "input": {"shape": [1, 1, 4], "mapping": "raw"},
                             "model": {"layers": {"fc": {"bits": 2}}},
                             "ops": [{"name": "flatten", "op": "flatten"},
                                     {"name": "fc", "op": "dense", "outputs": 2}]})
    weights = load_weights(wl)
    cfg = SimpleNamespace(fabric="some_new_fabric", source_file=None)
    # a fabric without a hook whose network exposes its workload: the workload's quantizers
    net = SimpleNamespace(workload=wl, workload_weights=weights)
    model = registry.hardware_model_for(cfg, net)
    assert isinstance(model, QuantizerModel) and model.bits == {"fc": 2}
    # ... and one that exposes nothing is a clear error at `fabric`
    with pytest.raises(ConfigError, match="fabric"):
        registry.hardware_model_for(cfg, SimpleNamespace())
    # a registered hook wins
    made = HardwareModel()
    registry.register_hardware_model("some_new_fabric", lambda c, n: made)
    try:
        assert registry.hardware_model_for(cfg, net) is made
    finally:
        registry._FACTORIES.pop("some_new_fabric")


def test_product_noise_is_the_products_variance_and_constant_noise_is_n_over_l():
    """noise_model "product": per neuron sqrt(sum_i (1 - (x_i w_i)^2) / L) with the bias as
    an input of value 1, computed here by hand; "constant": sqrt(n / L) whatever the data."""
    from archsim.workload import ops as O

    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (4, 6))
    w = rng.uniform(-1, 1, (3, 6))
    b = rng.uniform(-1, 1, 3)
    op = O.Dense(name="fc", index=0, input="x", in_shape=(6,), out_shape=(3,), outputs=3)
    L = 256
    want = np.sqrt(np.array([[6 + 1 - sum((x[m, i] * w[o, i]) ** 2 for i in range(6)) - b[o] ** 2
                              for o in range(3)] for m in range(4)]) / L)
    hw = SCModel({"fc": LayerHW("apc", 0, 25, 25, 0, last=True)}, L, noise_model="product")
    got = hw.noise_unit(op, torch.tensor(x), torch.tensor(w), torch.tensor(b))
    assert np.allclose(np.asarray(got), want, rtol=1e-12)
    # saturated products are quiet: x = w = +-1 everywhere leaves only the bias' variance
    ones = torch.ones(1, 6)
    quiet = hw.noise_unit(op, ones, -torch.ones(3, 6), torch.zeros(3))
    assert np.allclose(np.asarray(quiet), np.sqrt(1 / L))
    hw.noise_model = "constant"
    assert hw.noise_unit(op, torch.tensor(x), torch.tensor(w), torch.tensor(b)) == \
        pytest.approx(np.sqrt(25 / L))
    hw.noise_model = "bogus"
    with pytest.raises(ValueError, match="noise_model"):
        hw.noise_unit(op, torch.tensor(x), torch.tensor(w), torch.tensor(b))
