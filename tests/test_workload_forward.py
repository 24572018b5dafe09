"""The reference forward: hand-computed tiny cases for every op, batch folding, fixed point,
and bit-exactness against today's float references on the shipped LeNet-5 models."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from archsim.workload import (
    BatchNormParams,
    LayerParams,
    WorkloadWeights,
    apply_sign_thresholds,
    batchnorm,
    fold_into_layer,
    layer_outputs,
    load_weights,
    load_workload,
    map_input,
    predict,
    reference_forward,
    scale_shift,
    sign_thresholds,
    workload_from_dict,
)
from archsim.workload.forward import conv2d
from archsim.workload.models import BUILTIN_MODELS
from archsim.workload.ops import Conv2d

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "arch_configs" / "workloads" / "lenet5.yaml"
DESIGN = ROOT / "arch_configs" / "dwcnn" / "lenet5_dwm_sn128_fc-shared_pc.yaml"


def _wl(shape: list[int], ops: list[dict[str, Any]], mapping: str = "raw") -> Any:
    return workload_from_dict({"input": {"shape": shape, "mapping": mapping}, "ops": ops})


def _weights(layers: dict[str, tuple[Any, Any]],
             bn: dict[str, BatchNormParams] | None = None) -> WorkloadWeights:
    params = {name: LayerParams(name, np.asarray(w, float),
                                None if b is None else np.asarray(b, float))
              for name, (w, b) in layers.items()}
    return WorkloadWeights(layers=MappingProxyType(params),
                           batchnorm=MappingProxyType(bn or {}))


# --------------------------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------------------------


def test_conv_stride_2() -> None:
    wl = _wl([1, 4, 4], [{"name": "c", "op": "conv2d", "out_channels": 1, "kernel": 2,
                          "stride": 2}])
    w = _weights({"c": ([[[[1, 2], [3, 4]]]], [0.5])})
    x = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
    (out,) = reference_forward(wl, w, x)
    # windows [[0,1],[4,5]] -> 0+2+12+20, [[2,3],[6,7]] -> 2+6+18+28, ...
    assert np.array_equal(out, [[[34.5, 54.5], [114.5, 134.5]]])


def test_conv_zero_padding() -> None:
    wl = _wl([1, 2, 2], [{"name": "c", "op": "conv2d", "out_channels": 2, "kernel": 3,
                          "padding": 1, "bias": False}])
    centre = np.zeros((3, 3))
    centre[1, 1] = 1
    corner = np.zeros((3, 3))
    corner[0, 0] = 1
    w = _weights({"c": (np.stack([centre, corner])[:, None], None)})
    (out,) = reference_forward(wl, w, np.array([[[1, 2], [3, 4]]]))
    assert np.array_equal(out[0], [[1, 2], [3, 4]])   # the centre tap copies the input
    assert np.array_equal(out[1], [[0, 0], [0, 1]])   # the corner tap reads the zero border


def test_conv_groups() -> None:
    wl = _wl([2, 1, 1], [{"name": "c", "op": "conv2d", "out_channels": 4, "kernel": 1,
                          "groups": 2, "bias": False}])
    w = _weights({"c": (np.array([1, 2, 3, 4.0]).reshape(4, 1, 1, 1), None)})
    (out,) = reference_forward(wl, w, np.array([[[1]], [[2]]]))
    # filters 0, 1 see channel 0 (= 1); filters 2, 3 see channel 1 (= 2)
    assert np.array_equal(out.ravel(), [1, 2, 6, 8])


def test_conv_rectangular_input_and_kernel() -> None:
    wl = _wl([1, 2, 3], [{"name": "c", "op": "conv2d", "out_channels": 1, "kernel": [1, 2],
                          "bias": False}])
    w = _weights({"c": ([[[[1, 10]]]], None)})
    (out,) = reference_forward(wl, w, np.array([[[1, 2, 3], [4, 5, 6]]]))
    assert out.shape == (1, 2, 2)
    assert np.array_equal(out[0], [[21, 32], [54, 65]])


def test_conv_matches_a_loop_of_dot_products() -> None:
    rng = np.random.default_rng(3)
    wl = _wl([4, 7, 9], [{"name": "c", "op": "conv2d", "out_channels": 6, "kernel": [3, 2],
                          "stride": [2, 1], "padding": [1, 2], "groups": 2}])
    op = wl.ops[0]
    assert isinstance(op, Conv2d)
    w = rng.normal(size=op.weight_shape)
    b = rng.normal(size=6)
    x = rng.normal(size=(2, 4, 7, 9))
    got = conv2d(op, x, w, b)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    want = np.zeros((2, *op.out_shape))
    for n in range(2):
        for f in range(6):
            g = f // 3
            for i in range(op.out_shape[1]):
                for j in range(op.out_shape[2]):
                    patch = xp[n, 2 * g:2 * g + 2, 2 * i:2 * i + 3, j:j + 2]
                    want[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_max_and_avg_pool_kernel_3_stride_2() -> None:
    wl = _wl([1, 5, 5], [{"name": "m", "op": "maxpool", "kernel": 3, "stride": 2},
                         {"name": "a", "op": "avgpool", "kernel": 3, "stride": 2,
                          "input": "input"}])
    x = np.arange(25).reshape(1, 5, 5)
    mx, av = reference_forward(wl, _weights({}), x)
    assert np.array_equal(mx, [[[12, 14], [22, 24]]])   # bottom-right of each window
    assert np.array_equal(av, [[[6, 8], [16, 18]]])     # the centre of a linear ramp
    # overlapping windows share their border row/column; a partial window is dropped
    wl6 = _wl([1, 6, 6], [{"name": "m", "op": "maxpool", "kernel": 3, "stride": 2}])
    (m6,) = reference_forward(wl6, _weights({}), np.arange(36).reshape(1, 6, 6))
    assert np.array_equal(m6, [[[14, 16], [26, 28]]])


def test_dense_flatten_order() -> None:
    wl = _wl([1, 1, 3], [{"name": "f", "op": "flatten"},
                         {"name": "d", "op": "dense", "outputs": 2}])
    w = _weights({"d": ([[1, 0, -1], [2, 2, 2]], [0.5, -1])})
    flat, out = reference_forward(wl, w, np.array([[[1, 2, 3]]]))
    assert np.array_equal(flat, [1, 2, 3])
    assert np.array_equal(out, [-1.5, 11])
    wl2 = _wl([2, 1, 2], [{"name": "f", "op": "flatten"}])
    (flat2,) = reference_forward(wl2, _weights({}), np.array([[[1, 2]], [[3, 4]]]))
    assert np.array_equal(flat2, [1, 2, 3, 4])  # (C, H, W) order


def test_activations() -> None:
    ops: list[dict[str, Any]] = [{"name": "s", "op": "sign"},
           {"name": "r", "op": "relu", "input": "input"},
           {"name": "q", "op": "quantize", "bits": 2, "input": "input"},
           {"name": "t", "op": "btanh", "s": 2.0, "input": "input"},
           {"name": "n", "op": "none", "input": "input"}]
    wl = _wl([1, 1, 6], ops)
    x = np.array([[[-1.0, -0.0, 0.0, 0.2, 0.5, 1.7]]])
    s, r, q, t, n = reference_forward(wl, _weights({}), x)
    assert np.array_equal(s.ravel(), [-1, 1, 1, 1, 1, 1])            # sign(0) = +1
    assert np.array_equal(r.ravel(), [0, 0, 0, 0.2, 0.5, 1.7])
    # round(clip(x, 0, 1) * 3) / 3 with halves to even: 1.5 -> 2
    assert np.array_equal(q.ravel(), np.array([0, 0, 0, 1, 2, 3]) / 3)
    assert np.array_equal(t, np.tanh(x / 2.0))
    assert np.array_equal(n, x)


def test_input_mappings() -> None:
    p = np.arange(256, dtype=np.uint8)
    assert np.array_equal(map_input(p, "bipolar"), 2.0 * p.astype(float) / 255.0 - 1.0)
    assert map_input(p, "bipolar")[0] == -1.0 and map_input(p, "bipolar")[-1] == 1.0
    assert np.array_equal(map_input(p, "unipolar"), p / 255.0)
    assert np.array_equal(map_input(p, "raw"), p.astype(float))
    with pytest.raises(ValueError):
        map_input(p, "signed")


def test_add_residual() -> None:
    wl = _wl([1, 2, 2], [{"name": "c", "op": "conv2d", "out_channels": 1, "kernel": 1,
                          "bias": False},
                         {"name": "res", "op": "add", "other": "input"}])
    w = _weights({"c": ([[[[3.0]]]], None)})
    c, res = reference_forward(wl, w, np.array([[[1, 2], [3, 4]]]))
    assert np.array_equal(res, [[[4, 8], [12, 16]]])  # 3x + x


def _bn_params(rng: np.random.Generator, c: int) -> BatchNormParams:
    return BatchNormParams(gamma=rng.normal(size=c), beta=rng.normal(size=c),
                           mean=rng.normal(size=c), var=rng.uniform(0.1, 2.0, size=c),
                           eps=1e-3)


def test_batchnorm_hand_case_and_folding() -> None:
    p = BatchNormParams(gamma=np.array([2.0, -1.0]), beta=np.array([1.0, 0.0]),
                        mean=np.array([1.0, 3.0]), var=np.array([3.0, 0.0]), eps=1.0)
    wl = _wl([2, 1, 2], [{"name": "bn", "op": "batchnorm", "eps": 1.0}])
    (y,) = reference_forward(wl, _weights({}, {"bn": p}), np.array([[[1, 5]], [[3, 4]]]))
    # channel 0: (x - 1) / 2 * 2 + 1; channel 1: (x - 3) / 1 * -1
    assert np.array_equal(y, [[[1, 5]], [[0, -1]]])
    rng = np.random.default_rng(5)
    q = _bn_params(rng, 6)
    x = rng.normal(size=(4, 6, 3, 3)) * 10
    scale, shift = scale_shift(q)
    folded = x * scale[:, None, None] + shift[:, None, None]
    np.testing.assert_allclose(folded, batchnorm(x, q, image_ndim=3), rtol=1e-12, atol=1e-12)


def test_batchnorm_folded_into_the_conv_equals_conv_then_batchnorm() -> None:
    rng = np.random.default_rng(6)
    ops = [{"name": "c", "op": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1},
           {"name": "bn", "op": "batchnorm", "eps": 1e-3}]
    wl = _wl([3, 5, 5], ops, mapping="unipolar")
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    p = _bn_params(rng, 4)
    x = rng.integers(0, 256, size=(3, 3, 5, 5), dtype=np.uint8)
    _, unfolded = reference_forward(wl, _weights({"c": (w, b)}, {"bn": p}), x)
    w2, b2 = fold_into_layer(w, b, *scale_shift(p))
    (folded,) = reference_forward(_wl([3, 5, 5], ops[:1], "unipolar"),
                                  _weights({"c": (w2, b2)}), x)
    np.testing.assert_allclose(folded, unfolded, rtol=1e-12, atol=1e-12)


def test_batchnorm_before_sign_as_integer_thresholds_is_exact() -> None:
    """sign(batchnorm(x)) for integer x (an XNOR-popcount sum) equals the per-neuron integer
    comparison exactly: gamma of both signs, a zero gamma (constant channel), thresholds on
    integers (a tie: batchnorm(x) == 0 exactly at x = mean)."""
    rng = np.random.default_rng(7)
    c = 64
    p = _bn_params(rng, c)
    gamma = p.gamma.copy()
    gamma[:2] = 0.0
    mean = p.mean * 20
    mean[2:6] = np.round(mean[2:6])  # exact ties at integers
    p = BatchNormParams(gamma, p.beta * 5, mean, p.var * 30, p.eps)
    beta = p.beta.copy()
    beta[2:6] = 0.0
    p = BatchNormParams(p.gamma, beta, p.mean, p.var, p.eps)
    x = rng.integers(-60, 61, size=(200, c)).astype(np.int64)
    x[:, 2:6] = np.round(mean[2:6]).astype(np.int64) + rng.integers(-1, 2, size=(200, 4))
    want = np.where(batchnorm(x.astype(float), p, image_ndim=1) >= 0, 1.0, -1.0)
    got = apply_sign_thresholds(x, sign_thresholds(p), image_ndim=1)
    assert np.array_equal(got, want)
    # the same through the reference forward: batchnorm then sign on raw integer inputs
    wl = _wl([c, 1, 1], [{"name": "bn", "op": "batchnorm", "eps": p.eps},
                         {"name": "s", "op": "sign"}])
    _, s = reference_forward(wl, _weights({}, {"bn": p}), x.reshape(200, c, 1, 1))
    assert np.array_equal(s.reshape(200, c), got)


def test_batch_equals_single_images_and_chunking() -> None:
    wl = load_workload(ROOT / "arch_configs" / "workloads" / "small_cnn32.yaml")
    w = load_weights(wl)
    x = np.random.default_rng(1).integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    batch = reference_forward(wl, w, x)
    chunked = reference_forward(wl, w, x, batch_size=2)
    for i in range(5):
        single = reference_forward(wl, w, x[i])
        for a, b, c in zip(batch, chunked, single, strict=True):
            assert np.array_equal(a[i], c) and np.array_equal(b[i], c)
    assert [o.shape[1:] for o in batch] == [op.out_shape for op in wl.ops]
    assert all(o.dtype == np.float64 for o in batch)
    assert predict(wl, w, x).shape == (5,)
    assert predict(wl, w, x[0]).shape == ()
    empty = reference_forward(wl, w, x[:0])
    assert [o.shape for o in empty] == [(0, *op.out_shape) for op in wl.ops]
    with pytest.raises(ValueError):
        reference_forward(wl, w, x[:, :1])


# --------------------------------------------------------------------------------------------
# fixed point
# --------------------------------------------------------------------------------------------


def test_fixed_point_accumulates_integer_codes_exactly() -> None:
    wl = workload_from_dict({
        "input": {"shape": [1, 4, 4], "mapping": "unipolar"},
        "model": {"weights": "random", "layers": {"c": {"bits": 3}, "d": {"bits": 2}}},
        "ops": [
            {"name": "q", "op": "quantize", "bits": 2},
            {"name": "c", "op": "conv2d", "out_channels": 2, "kernel": 2, "padding": 1},
            {"name": "s", "op": "sign"},
            {"name": "m", "op": "maxpool", "kernel": 2},
            {"name": "f", "op": "flatten"},
            {"name": "d", "op": "dense", "outputs": 3},
        ],
    })
    w = load_weights(wl)
    pc, pd = w["c"], w["d"]
    assert pc.codes is not None and pc.step is not None and pc.bits == 3
    assert pd.codes is not None and pd.step is not None
    x = np.random.default_rng(2).integers(0, 256, size=(6, 1, 4, 4), dtype=np.uint8)
    fixed = reference_forward(wl, w, x, fixed_point=True)
    flt = reference_forward(wl, w, x)
    # by hand: the integer sum of code products, scaled once
    codes_x = np.round(np.clip(x / 255.0, 0, 1) * 3).astype(np.int64)
    op = wl.op("c")
    assert isinstance(op, Conv2d)
    acc = conv2d(op, codes_x, pc.codes, None)
    assert acc.dtype == np.int64
    assert pc.b is not None
    assert np.array_equal(fixed[1], acc * (1 / 3 * pc.step) + pc.b[:, None, None])
    np.testing.assert_allclose(fixed[1], flt[1], rtol=0, atol=1e-12)
    s_codes = np.where(fixed[1] >= 0, 1, -1)
    # 5x5 sign map, 2x2 pool: the last row and column are dropped
    m_codes = s_codes[:, :, :4, :4].reshape(6, 2, 2, 2, 2, 2).max(axis=(3, 5)).reshape(6, -1)
    assert pd.b is not None
    assert np.array_equal(fixed[5], (m_codes @ pd.codes.T) * pd.step + pd.b)
    assert np.array_equal(fixed[0], flt[0])


# --------------------------------------------------------------------------------------------
# the references it replaced: float_forward (the SC fabric's own float reference until the
# workload split, kept here verbatim as the record to hold this one to) and nn.lenet.forward
# --------------------------------------------------------------------------------------------

def float_forward(spec: Any, weights: dict, pixels: np.ndarray) -> list[np.ndarray]:
    """The SC network's float reference as archsim had it before the workload split
    (valid stride-1 conv, 2x2 max pool of the pre-activations, tanh(z/s), weights clipped)."""
    x = 2.0 * pixels.astype(np.float64) / 255.0 - 1.0
    outs = []
    weights = {n: (np.clip(w, -1, 1), np.clip(b, -1, 1)) for n, (w, b) in weights.items()}
    for lay in spec.layers:
        w, b = weights[lay.name]
        if lay.kind == "conv":
            k, Ho = lay.kernel, lay.conv_size
            x = x.reshape(lay.in_channels, lay.in_size, lay.in_size)
            win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, :Ho, :Ho]
            z = np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]
            if lay.pool > 1:
                e = 2 * (Ho // 2)
                z = np.maximum(np.maximum(z[:, 0:e:2, 0:e:2], z[:, 0:e:2, 1:e:2]),
                               np.maximum(z[:, 1:e:2, 0:e:2], z[:, 1:e:2, 1:e:2]))
        else:
            z = w @ x.ravel() + b
        x = np.tanh(z / lay.btanh_s) if lay.activation == "btanh" else z
        outs.append(x)
    return outs



def _mnist(n: int) -> np.ndarray:
    from archsim.nn.datasets import load_dataset

    images, _, _ = load_dataset("mnist", data_dir="", count=n)
    return images


@pytest.fixture(scope="module")
def lenet() -> Any:
    return load_workload(LENET)


@pytest.mark.parametrize("model", sorted(n for n, m in BUILTIN_MODELS.items()
                                          if m.workload == "arch_configs/workloads/lenet5.yaml"))
def test_reference_forward_is_bit_exact_with_float_forward(lenet: Any, model: str) -> None:
    """The first 20 shipped MNIST images through every shipped model: each stage output equals
    float_forward's layer output exactly, image by image and in one batch."""
    from archsim.config import load_config
    from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec

    cfg = load_config(DESIGN, [f"model.weights=builtin:{model}"])
    spec = network_spec(cfg)
    fw, _ = model_weights(cfg, spec)
    wl = load_workload(LENET, [f"model.weights=builtin:{model}"])
    weights = load_weights(wl)
    images = _mnist(20)
    batch = layer_outputs(wl, reference_forward(wl, weights, images[:, None]))
    for i, img in enumerate(images):
        ref = float_forward(spec, fw, img)
        ours = layer_outputs(wl, reference_forward(wl, weights, img[None]))
        assert len(ref) == len(ours) == 4
        for layer, r, o, b in zip(("conv1", "conv2", "fc1", "fc2"), ref, ours, batch,
                                  strict=True):
            assert np.array_equal(o.ravel(), r.ravel()), (model, i, layer)
            assert np.array_equal(b[i].ravel(), r.ravel()), (model, i, layer)


def test_reference_forward_against_nn_lenet_forward(lenet: Any) -> None:
    """archsim.nn.lenet.forward has the same conventions (bipolar input, valid conv + bias, 2x2
    max pool of the pre-activations, tanh(z / s) with the file's s = 1, weights clipped to
    [-1, 1]), so no second workload file is needed, but it evaluates them in another order,
    so its numbers are not bit-equal to float_forward's (nor to ours): the input is
    ``p * (2/255) - 1`` instead of ``2 p / 255 - 1`` (1 ulp apart for some p); a convolution is
    one GEMM over all images of a batch, ``cols (N*Ho*Wo, C*k*k) @ W.T``, and a dense layer
    the GEMM ``X @ W.T``, whose BLAS blocking and summation order differ from one
    ``W @ cols`` GEMM / ``W @ x`` GEMV per image. The difference stays at rounding level:
    bounded here at 1e-12 on every intermediate, and the predictions agree."""
    from archsim.nn.lenet import forward
    from archsim.nn.lenet import load_weights as lenet_weights

    images = _mnist(20)
    for model in ("lenet5_mnist", "lenet5_fashion"):
        wl = load_workload(LENET, [f"model.weights=builtin:{model}"])
        outs = reference_forward(wl, load_weights(wl), images[:, None])
        by_name = {op.name: o for op, o in zip(wl.ops, outs, strict=True)}
        ref = forward(lenet_weights(model), images)
        pairs = {"conv1": "conv1", "pool1": "pool1", "act1": "act1", "conv2": "conv2",
                 "pool2": "pool2", "act2": "act2", "fc1": "fc1", "act3": "act3",
                 "logits": "fc2"}
        for theirs, ours in pairs.items():
            diff = np.max(np.abs(ref[theirs] - by_name[ours].reshape(ref[theirs].shape)))
            assert diff <= 1e-12, (model, theirs, diff)
        assert np.array_equal(ref["pred"], np.argmax(by_name["fc2"], axis=1))


def test_small_random_design_is_bit_exact_with_float_forward() -> None:
    """The small DW-CNN design (1x8x8, random weights seeded by the design's seed): the
    workload's random weights are the engine's, and the outputs are equal."""
    from archsim.config import load_config
    from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec

    cfg = load_config(ROOT / "arch_configs" / "dwcnn" / "small_conv_fc.yaml")
    spec = network_spec(cfg)
    fw, _ = model_weights(cfg, spec)
    wl = workload_from_dict({
        "input": {"shape": [1, 8, 8], "mapping": "bipolar"},
        "model": {"weights": "random", "seed": cfg.seed, "clip": 1.0},
        "ops": [{"name": "conv1", "op": "conv2d", "out_channels": 2, "kernel": 3},
                {"name": "pool1", "op": "maxpool", "kernel": 2},
                {"name": "act1", "op": "btanh"},
                {"name": "flatten", "op": "flatten"},
                {"name": "fc1", "op": "dense", "outputs": 4}],
    })
    weights = load_weights(wl)
    for name, (w, b) in weights.float_weights().items():
        assert np.array_equal(w, fw[name][0]) and np.array_equal(b, fw[name][1])
    x = np.random.default_rng(0).integers(0, 256, size=(7, 1, 8, 8), dtype=np.uint8)
    batch = layer_outputs(wl, reference_forward(wl, weights, x))
    for i in range(7):
        for r, o in zip(float_forward(spec, fw, x[i]), batch, strict=True):
            assert np.array_equal(o[i].ravel(), r.ravel())
