"""The hardware model of training/train_lenet5.py (``--hw-model``): weight quantization,
soft segment max pooling, Btanh gain, and that the default network is unchanged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "training" / "train_lenet5.py"


@pytest.fixture(scope="module")
def tl():
    spec = importlib.util.spec_from_file_location("train_lenet5_hw_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_quantize_weight_matches_stored_stream(tl):
    """A 128-bit stream with round((w+1)/2*128) ones decodes to the quantized value."""
    w = torch.linspace(-1, 1, 1001, requires_grad=True)
    q = tl.quantize_weight(w, 128)
    ones = np.round((w.detach().numpy() + 1) / 2 * 128)
    np.testing.assert_allclose(q.detach().numpy(), 2 * ones / 128 - 1, atol=1e-6)
    q.sum().backward()  # straight-through gradient
    np.testing.assert_allclose(w.grad.numpy(), 1.0)
    assert tl.quantize_weight(w, 0) is w


def test_soft_segment_pool_limits(tl):
    z = torch.randn(2, 3, 4, 6)
    exact = torch.nn.functional.max_pool2d(z, 2)
    torch.testing.assert_close(tl.soft_segment_pool(z, 0.0), exact)
    torch.testing.assert_close(tl.soft_segment_pool(z, 1e-4), exact, atol=1e-3, rtol=0)
    mean = torch.nn.functional.avg_pool2d(z, 2)
    torch.testing.assert_close(tl.soft_segment_pool(z, 1e6), mean, atol=1e-4, rtol=0)
    soft = tl.soft_segment_pool(z, 1.0)
    assert torch.all(soft <= exact + 1e-6) and torch.all(soft >= mean - 1e-6)


def _copy(dst, src):
    with torch.no_grad():
        for a, b in zip(dst.parameters(), src.parameters(), strict=True):
            a.copy_(b)


def test_hw_model_reduces_to_reference(tl):
    """Gains 1, no pooling noise, no quantization, no noise: the plain SC LeNet-5."""
    torch.manual_seed(0)
    ref = tl.SCLeNet5(1.0, 0, 1.0, "pc")
    hw = tl.HardwareModel(
        gains=dict.fromkeys(tl.HIDDEN, 1.0),
        noise=dict.fromkeys(tl.HIDDEN, 0.0),
        pool_segment=0,
        weight_levels=0,
    )
    m = tl.SCLeNet5(1.0, 0, 1.0, "pc", hw)
    _copy(m, ref)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(m(x), ref(x))


def test_hw_model_gain_and_noise(tl):
    hw = tl.HardwareModel(
        gains={"conv1": 1.0, "conv2": 0.5, "fc1": 2.0},
        noise={"conv1": 0.0, "conv2": 0.0, "fc1": 1.0},
    )
    m = tl.SCLeNet5(1.0, 1024, 1.0, "pc", hw)
    z = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(m._hw_act(z, "conv2", noise=True), torch.tanh(0.5 * z))
    torch.testing.assert_close(m._hw_act(z, "fc1", noise=False), torch.tanh(2.0 * z))
    torch.manual_seed(1)
    y = m._hw_act(torch.zeros(20000), "fc1", noise=True)
    assert abs(float(y.mean())) < 0.03 and 0.6 < float(y.std()) <= 1.0
    assert float(y.abs().max()) <= 1.0


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
def test_shared_apc_expectation(tl, k, groups):
    rng = np.random.default_rng(k * 100 + groups)
    x = rng.uniform(-1, 1, size=(3, k))
    w = rng.uniform(-1, 1, size=(4, k))
    b = rng.uniform(-1, 1, size=4)
    got = tl.apc_inner_shared_numpy(x, w, b, groups)
    want = np.array(
        [[brute_shared_apc(xi, wf, bf, groups) for wf, bf in zip(w, b, strict=True)] for xi in x]
    )
    np.testing.assert_allclose(got, want, atol=1e-9)
    got_t = tl.apc_inner_shared(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), groups
    )
    np.testing.assert_allclose(got_t.numpy(), want, atol=1e-9)
