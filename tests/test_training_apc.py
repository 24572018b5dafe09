"""The APC-expectation forward of training/train_lenet5.py against a brute-force E_apc.

Kim's APC pairs the n inputs of an inner product in order -- pair j = (2j, 2j+1), OR if j is
even, AND if j is odd -- and outputs 2 * count + (last input if n is odd). For independent
streams with P(bit) = p_i = (1 + x_i w_i) / 2 (bias last, input +1) its expected output is
E = 2 sum_j g_j + p_last; the decoded bipolar sum is z = 2 E - n. The brute force below
evaluates that definition with an explicit loop over pairs.
"""

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
    spec = importlib.util.spec_from_file_location("train_lenet5_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


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
def test_fc_apc_matches_brute_force(tl, fan_in):
    """n = fan_in + 1 covers odd and even n (bias unpaired or paired)."""
    rng = np.random.default_rng(fan_in)
    x = rng.uniform(-1, 1, (3, fan_in))
    w = rng.uniform(-1, 1, (4, fan_in))
    b = rng.uniform(-1, 1, 4)
    want = np.array([[brute_z_apc(x[i], w[f], b[f]) for f in range(4)] for i in range(3)])
    fc = torch.nn.Linear(fan_in, 4).double()
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(w))
        fc.bias.copy_(torch.from_numpy(b))
        got_t = tl.apc_fc(torch.from_numpy(x), fc).numpy()
    got_np = tl.apc_inner_numpy(x, w, b)
    np.testing.assert_allclose(got_t, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_np, want, rtol=0, atol=1e-12)
    # the APC differs from the exact sum (a real bias, not a no-op), except for n <= 2 pairs
    exact = x @ w.T + b
    if fan_in >= 3:
        assert np.max(np.abs(want - exact)) > 1e-3


@pytest.mark.parametrize("channels,k", [(1, 5), (2, 3), (3, 2), (4, 3), (1, 1), (3, 1)])
def test_conv_apc_matches_brute_force(tl, channels, k):
    rng = np.random.default_rng(10 * channels + k)
    x = rng.uniform(-1, 1, (2, channels, 7, 6))
    w = rng.uniform(-1, 1, (3, channels, k, k))
    b = rng.uniform(-1, 1, 3)
    want = np.stack([brute_conv(x[i], w, b) for i in range(2)])
    conv = torch.nn.Conv2d(channels, 3, k).double()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        conv.bias.copy_(torch.from_numpy(b))
        got_t = tl.apc_conv(torch.from_numpy(x), conv).numpy()
        got_i2c = tl.apc_conv_im2col(torch.from_numpy(x), conv).numpy()
    got_np = tl._apc_conv_numpy(x, w, b)
    np.testing.assert_allclose(got_t, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_i2c, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_np, want, rtol=0, atol=1e-12)


def test_conv_apc_gradients_match_im2col(tl):
    """The product-map conv and the im2col form have the same gradients (LeNet conv2 shape)."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(20, 4, 5).double()
    x = (torch.rand(2, 20, 12, 12, dtype=torch.float64) * 2 - 1).requires_grad_()
    grads = []
    for fn in (tl.apc_conv, tl.apc_conv_im2col):
        conv.zero_grad()
        x.grad = None
        (
            fn(x, conv) * torch.linspace(-1, 1, 4 * 64, dtype=torch.float64).reshape(4, 8, 8)
        ).sum().backward()
        grads.append((x.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone()))
    for g1, g2 in zip(*grads, strict=True):
        torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-10)


def test_pc_counter_is_exact(tl):
    """With --counter pc the model is the plain float network."""
    torch.manual_seed(0)
    model = tl.SCLeNet5(1.0, 0, 1.0, counter="pc").double()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        z1 = model.conv1(x)
        ref = torch.tanh(torch.nn.functional.max_pool2d(z1, 2))
        ref = torch.tanh(torch.nn.functional.max_pool2d(model.conv2(ref), 2))
        ref = model.fc2(torch.tanh(model.fc1(ref.flatten(1))))
        np.testing.assert_allclose(model(x).numpy(), ref.numpy(), atol=1e-12)


def test_numpy_and_torch_networks_agree(tl):
    """Whole LeNet-5 through the APC expectation: torch model == apc_forward_numpy."""
    torch.manual_seed(0)
    model = tl.SCLeNet5(1.0, 0, 1.0, counter="apc")
    model.clamp_()
    weights = model.export({})
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    got_np = tl.apc_forward_numpy(weights, images, batch_size=2)
    with torch.no_grad():
        m64 = model.double()
        x = torch.from_numpy(images.astype(np.float64))[:, None] * (2.0 / 255.0) - 1.0
        got_t = m64(x).numpy()
    np.testing.assert_allclose(got_np, got_t, rtol=0, atol=1e-9)
    # fc1's APC layer also matches the brute force on a real hidden vector
    a = rng.uniform(-1, 1, 800)
    w, b = weights.fc1_w[:2].astype(np.float64), weights.fc1_b[:2].astype(np.float64)
    want = [brute_z_apc(a, w[f], b[f]) for f in range(2)]
    np.testing.assert_allclose(tl.apc_inner_numpy(a[None], w, b)[0], want, atol=1e-10)
