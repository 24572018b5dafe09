"""Train the SC LeNet-5 of DW-CNN in PyTorch and export it for archsim's float reference.

The torch network is the same function as ``archsim.nn.lenet.forward``: bipolar input
2 p / 255 - 1, conv 5x5 (20) -> 2x2 max pool of pre-activations -> tanh(z / s), conv 5x5 (50)
likewise, fc 800->500 + tanh(z / s), fc 500->10 logits. It is trained to suit the SC hardware:

* random shifts of up to 1 pixel (``--augment-shift``) during training;
* every weight and bias is clamped to [-1, 1] after each optimiser step (bipolar numbers);
* SC-aware noise (``--sc-noise-length L``, default 1024, 0 = off): during training, Gaussian
  noise with std ``scale * sqrt(n_inputs / L)`` is added to each inner product (APC output),
  the spread of a sum of ``n_inputs`` bipolar XNOR products decoded from L-bit streams, so the
  network learns margins that survive stochastic-stream noise;
* cross-entropy is taken on ``logits * T`` with a learned temperature T (recorded in the
  metadata); the hardware decodes argmax, which T does not change;
* ``--counter apc`` trains through the *expected* output of Kim's approximate parallel
  counter instead of the exact sum (``--counter pc``, the default), see below;
  ``--counter mixed`` alternates APC and PC batches, so that one model works with either
  counter;
* ``--hw-model`` trains through what the simulated hardware computes instead of exact max
  pooling and tanh (:class:`HardwareModel`): 128-level stochastic weights, segment max pooling
  as a noisy (soft) selection, the Btanh's measured gain and output spread. With ``--init``
  (start from a trained .npz) and a few epochs it fine-tunes a model for the SC datapath;
  ``--val-count N`` holds out the last N training images for model selection.

APC expectation. An inner product has n = fan_in + 1 inputs (the bias last, its input the
constant +1); conv inputs are ordered (c, ky, kx) row-major, FC inputs in index order of the
(C, H, W)-flattened vector. With independent streams, input i is 1 with probability
p_i = (1 + q_i) / 2, q_i = x_i w_i. The APC ORs pair j = (2j, 2j+1) if j is even, ANDs it if
j is odd, and outputs 2 * count + (last input if n is odd), so its expected count is
E = 2 sum_j g_j + p_last, g_j = p_a + p_b - p_a p_b (OR) or p_a p_b (AND). Substituting p,
the decoded bipolar sum that the Btanh sees is

    z_apc = 2 E - n = sum_i q_i + sum_j s_j (1 - q_2j q_2j+1),   s_j = +1 (j even), -1 (j odd)

and q_2j q_2j+1 = (x_2j x_2j+1)(w_2j w_2j+1): the APC bias is one more linear layer on the
products of neighbouring inputs with the products of neighbouring weights. The torch forward
(``apc_inner``) uses that form (one matmul on [inputs, pair products]); ``apc_forward_numpy``
is the same function in NumPy float64 and gives the "float-APC" test accuracy.

Its float test accuracy is measured on the full test set with the NumPy reference (not torch),
and with the APC expectation in NumPy, and both are written, with the settings, into the .npz
metadata.

    python training/train_lenet5.py --dataset mnist --data-dir $ARCHSIM_DATA
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim.nn.datasets import load_dataset, resolve_data_dir  # noqa: E402
from archsim.nn.lenet import (  # noqa: E402
    LeNet5Weights,
    accuracy,
    load_weights,
    pixels_to_bipolar,
    save_weights,
)

DEFAULT_OUT = {
    "mnist": REPO / "archsim" / "models" / "lenet5_mnist.npz",
    "fashion-mnist": REPO / "archsim" / "models" / "lenet5_fashion.npz",
}


def apc_pair_signs(n: int) -> np.ndarray:
    """s_j of the n // 2 APC pairs: +1 for an OR pair (even j), -1 for an AND pair (odd j)."""
    return np.where(np.arange(n // 2) % 2 == 0, 1.0, -1.0)


def apc_inner(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Expected decoded APC inner product z_apc = 2 E - n of every neuron.

    ``x`` (..., K): the K = fan_in inputs of each inner product, in hardware order; ``w``
    (F, K), ``b`` (F,). The bias is input K (value +1). Returns (..., F). One GEMM on the
    inputs and the products of neighbouring inputs.
    """
    n = x.shape[-1] + 1
    m = n // 2
    xin = torch.cat([x, x.new_ones(x.shape[:-1] + (1,))], -1)  # (..., n)
    wb = torch.cat([w, b[:, None]], 1)  # (F, n)
    sign = torch.from_numpy(apc_pair_signs(n)).to(w.dtype)
    x2 = xin[..., 0 : 2 * m : 2] * xin[..., 1 : 2 * m : 2]  # (..., m)
    w2 = wb[:, 0 : 2 * m : 2] * wb[:, 1 : 2 * m : 2] * sign  # (F, m)
    return F.linear(torch.cat([xin, x2], -1), torch.cat([wb, -w2], 1)) + float(sign.sum())


@functools.cache
def _apc_conv_plan(channels: int, k: int) -> tuple:
    """Index plan of the APC pairs of a (channels, k, k) window + bias, in (c, ky, kx) order.

    Pair j joins inputs a = 2j and b = 2j + 1. Either b is the bias (its input is +1, so the
    pair term is linear in x_a and folds into the conv kernel), or b is the next window
    element, displaced from a by one of three offsets (dc, dky, dkx): the next column
    (0, 0, 1), the start of the next row (0, 1, 1 - k) or of the next channel
    (1, 1 - k, 1 - k). Returns (bias_pair, groups): ``bias_pair`` = (j, a) or None; each
    group = (dc, dky, dkx, ky0, kx0, kh, kw, j, c, ky - ky0, kx - kx0) with index arrays.
    """
    n = channels * k * k + 1
    by_offset: dict[tuple[int, int, int], list[tuple[int, int, int, int]]] = {}
    bias_pair = None
    for j in range(n // 2):
        ia, ib = 2 * j, 2 * j + 1
        if ib == n - 1:
            bias_pair = (j, ia)
            continue
        ca, ra = divmod(ia, k * k)
        cb, rb = divmod(ib, k * k)
        (ya, xa), (yb, xb) = divmod(ra, k), divmod(rb, k)
        by_offset.setdefault((cb - ca, yb - ya, xb - xa), []).append((j, ca, ya, xa))
    groups = []
    for (dc, dky, dkx), items in sorted(by_offset.items()):
        j, c, y, x = (np.array(v) for v in zip(*items, strict=True))
        ky0, kx0 = int(y.min()), int(x.min())
        kh, kw = int(y.max()) - ky0 + 1, int(x.max()) - kx0 + 1
        groups.append((dc, dky, dkx, ky0, kx0, kh, kw, j, c, y - ky0, x - kx0))
    return bias_pair, tuple(groups)


@functools.cache
def shared_apc_plan(n: int, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """APC pairs of a MUX-shared FC layer (DW-CNN Fig. 10) with n inputs (bias last), G groups.

    In MUX phase m, slot k carries input k + G m; the G-input APC pairs slots (2j, 2j+1),
    OR for even j, AND for odd j, and adds slot G-1 alone if G is odd. Slots past the fan-in
    carry the shared bipolar-zero stream 0101... (q = 0): a (real, pad) pair adds the constant
    s_j, a (pad, pad) pair is the same stream twice (OR = AND = that stream) and adds 0.
    The expected decoded sum over the M phases is ``sum_i q_i - sum_pairs s_j q_a q_b + const``.
    Returns (a, b, s) of the pairs of two real inputs and const.
    """
    a, b, sg, const = [], [], [], 0.0
    for m in range(-(-n // groups)):
        for j in range(groups // 2):
            ia, ib, sj = groups * m + 2 * j, groups * m + 2 * j + 1, 1.0 if j % 2 == 0 else -1.0
            if ib < n:
                a.append(ia), b.append(ib), sg.append(sj)
                const += sj
            elif ia < n:
                const += sj
    return np.array(a), np.array(b), np.array(sg), const


def apc_inner_shared(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, groups: int):
    """Expected decoded APC sum of a MUX-shared FC layer (see :func:`shared_apc_plan`), summed
    over the M phases (the value whose 1/M the Btanh sees per cycle); x (..., K) -> (..., F)."""
    n = x.shape[-1] + 1
    ia, ib, sg, const = shared_apc_plan(n, groups)
    xin = torch.cat([x, x.new_ones(x.shape[:-1] + (1,))], -1)
    wb = torch.cat([w, b[:, None]], 1)
    ia_t, ib_t = torch.from_numpy(ia), torch.from_numpy(ib)
    w2 = wb[:, ia_t] * wb[:, ib_t] * torch.from_numpy(sg).to(w.dtype)
    x2 = xin[..., ia_t] * xin[..., ib_t]
    return F.linear(torch.cat([xin, x2], -1), torch.cat([wb, -w2], 1)) + const


def apc_inner_shared_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray, groups: int):
    """NumPy twin of :func:`apc_inner_shared` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1] + 1
    ia, ib, sg, const = shared_apc_plan(n, groups)
    xin = np.concatenate([x, np.ones(x.shape[:-1] + (1,))], axis=-1)
    wb = np.concatenate([np.asarray(w, np.float64), np.asarray(b, np.float64)[:, None]], axis=1)
    return xin @ wb.T - (xin[..., ia] * xin[..., ib]) @ (wb[:, ia] * wb[:, ib] * sg).T + const


def apc_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Valid stride-1 conv through the APC expectation (window order (c, ky, kx), bias last).

    z_apc = conv(x) + sum_j s_j - sum_j s_j w_a w_b x_a x_b. The pair term is computed as
    convolutions of *product maps* x[c, u, v] * x[c + dc, u + dky, v + dkx] (one per pair
    offset) with kernels holding s_j w_a w_b at tap a, which costs about one more conv
    instead of an im2col of the whole window.
    """
    f, c, k, _ = conv.weight.shape
    n = c * k * k + 1
    m = n // 2
    ho, wo = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    sign = torch.from_numpy(apc_pair_signs(n)).to(conv.weight.dtype)
    wb = torch.cat([conv.weight.reshape(f, -1), conv.bias[:, None]], 1)  # (F, n)
    w2 = wb[:, 0 : 2 * m : 2] * wb[:, 1 : 2 * m : 2] * sign  # (F, m): s_j w_a w_b
    bias_pair, groups = _apc_conv_plan(c, k)
    kernel = conv.weight
    if bias_pair is not None:  # x_b = 1: -s_j w_a b x_a is linear in x_a
        j, ia = bias_pair
        fold = torch.zeros_like(wb[:, :-1])
        fold[:, ia] = w2[:, j]
        kernel = (wb[:, :-1] - fold).reshape(conv.weight.shape)
    z = F.conv2d(x, kernel, conv.bias) + float(sign.sum())
    for dc, dky, dkx, ky0, kx0, kh, kw, j, ci, yi, xi in groups:
        hm, wm, cd = ho + kh - 1, wo + kw - 1, c - dc
        prod = (
            x[:, :cd, ky0 : ky0 + hm, kx0 : kx0 + wm]
            * x[:, dc : dc + cd, ky0 + dky : ky0 + dky + hm, kx0 + dkx : kx0 + dkx + wm]
        )
        pk = w2.new_zeros(f, cd, kh, kw)
        pk[:, ci, yi, xi] = w2[:, j]
        z = z - F.conv2d(prod, pk)
    return z


def apc_conv_im2col(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Same as :func:`apc_conv` through im2col and :func:`apc_inner` (slower; for tests)."""
    f, _, k, _ = conv.weight.shape
    ho, wo = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    cols = F.unfold(x, k).transpose(1, 2)  # (N, Ho*Wo, C*k*k), (c, ky, kx) row-major
    z = apc_inner(cols, conv.weight.reshape(f, -1), conv.bias)  # (N, Ho*Wo, F)
    return z.transpose(1, 2).reshape(x.shape[0], f, ho, wo).contiguous()


def apc_fc(x: torch.Tensor, fc: nn.Linear) -> torch.Tensor:
    """Fully connected layer through the APC expectation; x (N, K) -> (N, F)."""
    return apc_inner(x, fc.weight, fc.bias)


HIDDEN = ("conv1", "conv2", "fc1")


@dataclass
class HardwareModel:
    """What the simulated hardware computes in place of max pool + tanh (``--hw-model``).

    Measured on the bit-exact simulator (``training/sc_eval.py``), see docs/data-and-model.md:

    * weights are ``weight_levels``-bit stochastic streams with an exact number of ones, so the
      datapath uses ``w_q = 2 round((w + 1) / 2 * levels) / levels - 1`` (straight-through
      gradient);
    * causal segment max pooling forwards, in each segment, the candidate whose *previous*
      segment of ``pool_segment`` cycles had the largest count. Each segment sum estimates the
      pre-activation with std ``sqrt(n / seg)`` (n products per cycle), so the forwarded value is
      ``sum_k p_k z_k`` with ``p = softmax(z / tau)``, ``tau = c sqrt(n / seg)`` (Gumbel-max
      approximation of a noisy max; c = 0.78 for independent Gaussian sums of n products,
      c = 0.5 by default, which makes the model's accuracy match the simulator's for the
      shipped model: the real per-cycle counts vary less than n independent products);
    * the Btanh output is ``y = tanh(g z)`` on average with a per-layer gain g (1 for conv1,
      below 1 for conv2, whose 1002-state counter does not settle in 1024 cycles, above 1 for
      the MUX-shared fc1 whose counter runs 16 passes), and its decoded output has a spread
      ``sigma sqrt(1 - y^2)`` (fc1: sigma = 1, the output is nearly a +-1 sample);
    * the last layer gets Gaussian pre-activation noise (``--sc-noise-length``) as before.
    """

    gains: dict
    noise: dict
    pool_segment: int = 16
    weight_levels: int = 128
    pool_tau_scale: float = 0.5
    fc_groups: int = 0  # > 0: the FC layers are MUX-shared with this G (APC pairing)


def quantize_weight(w: torch.Tensor, levels: int) -> torch.Tensor:
    """Value of a ``levels``-bit stochastic stream with exactly round((w+1)/2 levels) ones,
    with a straight-through gradient."""
    if not levels:
        return w
    q = torch.round((w.clamp(-1, 1) + 1) * (levels / 2)) * (2 / levels) - 1
    return w + (q - w).detach()


def soft_segment_pool(z: torch.Tensor, tau: float) -> torch.Tensor:
    """Expected forwarded pre-activation of segment max pooling over 2x2 windows."""
    n, c, h, w = z.shape
    win = (
        z.reshape(n, c, h // 2, 2, w // 2, 2)
        .permute(0, 1, 2, 4, 3, 5)
        .reshape(n, c, h // 2, w // 2, 4)
    )
    if tau <= 0:
        return win.amax(-1)
    p = torch.softmax(win / tau, dim=-1)
    return (p * win).sum(-1)


class SCLeNet5(nn.Module):
    """LeNet-5 with SC semantics: pool before tanh, weights in [-1, 1], PC or APC counter,
    optional stream noise, optional hardware model (:class:`HardwareModel`)."""

    def __init__(
        self,
        s: float,
        noise_length: int,
        noise_scale: float,
        counter: str = "apc",
        hw: HardwareModel | None = None,
    ) -> None:
        super().__init__()
        self.hw = hw
        if counter not in ("apc", "pc"):
            raise ValueError(f"counter={counter!r} must be 'apc' or 'pc'")
        self.counter = counter
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)
        self.s = s
        self.log_temperature = nn.Parameter(torch.zeros(()))
        # std of a sum of n bipolar products from L-bit streams: sqrt(n / L) (upper bound);
        # n counts the bias stream too.
        self.noise_std = {
            name: (noise_scale * math.sqrt((fan_in + 1) / noise_length) if noise_length else 0.0)
            for name, fan_in in (("conv1", 25), ("conv2", 500), ("fc1", 800), ("fc2", 500))
        }

    def _noisy(self, z: torch.Tensor, layer: str, noise: bool) -> torch.Tensor:
        std = self.noise_std[layer]
        if noise and std > 0:
            z = z + torch.randn_like(z) * std
        return z

    def _conv(self, x: torch.Tensor, layer: nn.Conv2d) -> torch.Tensor:
        if self.hw is not None and self.hw.weight_levels:
            lv = self.hw.weight_levels
            w, b = quantize_weight(layer.weight, lv), quantize_weight(layer.bias, lv)
            if self.counter == "apc":
                return apc_conv(x, SimpleNamespace(weight=w, bias=b))
            return F.conv2d(x, w, b)
        return apc_conv(x, layer) if self.counter == "apc" else layer(x)

    def _fc(self, x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        if self.hw is not None and self.hw.weight_levels:
            lv = self.hw.weight_levels
            w, b = quantize_weight(layer.weight, lv), quantize_weight(layer.bias, lv)
            if self.counter == "apc" and self.hw.fc_groups:
                return apc_inner_shared(x, w, b, self.hw.fc_groups)
            return apc_inner(x, w, b) if self.counter == "apc" else F.linear(x, w, b)
        return apc_fc(x, layer) if self.counter == "apc" else layer(x)

    def _hw_act(self, z: torch.Tensor, layer: str, noise: bool) -> torch.Tensor:
        """Btanh as the hardware computes it: mean tanh(g z), spread sigma sqrt(1 - y^2)."""
        hw = self.hw
        assert hw is not None
        y = torch.tanh(z * (hw.gains[layer] / self.s))
        sigma = hw.noise[layer]
        if noise and sigma > 0:
            y = y + sigma * torch.sqrt((1 - y * y).clamp_min(1e-6)) * torch.randn_like(y)
            y = y.clamp(-1.0, 1.0)
        return y

    def _hw_forward(self, x: torch.Tensor, noise: bool) -> torch.Tensor:
        hw = self.hw
        assert hw is not None
        for name, conv, n in (("conv1", self.conv1, 26), ("conv2", self.conv2, 501)):
            tau = hw.pool_tau_scale * math.sqrt(n / hw.pool_segment) if hw.pool_segment else 0.0
            x = self._hw_act(soft_segment_pool(self._conv(x, conv), tau), name, noise)
        x = self._hw_act(self._fc(x.flatten(1), self.fc1), "fc1", noise)
        return self._noisy(self._fc(x, self.fc2), "fc2", noise)

    def forward(self, x: torch.Tensor, noise: bool = False) -> torch.Tensor:
        if self.hw is not None:
            return self._hw_forward(x, noise)
        z = self._noisy(self._conv(x, self.conv1), "conv1", noise)
        x = torch.tanh(F.max_pool2d(z, 2) / self.s)
        z = self._noisy(self._conv(x, self.conv2), "conv2", noise)
        x = torch.tanh(F.max_pool2d(z, 2) / self.s)
        z = self._noisy(self._fc(x.flatten(1), self.fc1), "fc1", noise)
        x = torch.tanh(z / self.s)
        return self._noisy(self._fc(x, self.fc2), "fc2", noise)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep every weight and bias a valid bipolar number."""
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            layer.weight.clamp_(-1.0, 1.0)
            layer.bias.clamp_(-1.0, 1.0)

    def export(self, metadata: dict) -> LeNet5Weights:
        """Weights for archsim.nn.lenet (float32)."""

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32)

        return LeNet5Weights(
            conv1_w=arr(self.conv1.weight), conv1_b=arr(self.conv1.bias),
            conv2_w=arr(self.conv2.weight), conv2_b=arr(self.conv2.bias),
            fc1_w=arr(self.fc1.weight), fc1_b=arr(self.fc1.bias),
            fc2_w=arr(self.fc2.weight), fc2_b=arr(self.fc2.bias),
            s=dict.fromkeys(("conv1", "conv2", "fc1"), self.s),
            metadata=metadata,
        )  # fmt: skip


# ----------------------------------------------------------------------------- NumPy APC


def apc_inner_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`apc_inner`: ``x`` (..., K), ``w`` (F, K), ``b`` (F,) ->
    z_apc (..., F), float64."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1] + 1
    m = n // 2
    xin = np.concatenate([x, np.ones(x.shape[:-1] + (1,))], axis=-1)
    wb = np.concatenate([np.asarray(w, np.float64), np.asarray(b, np.float64)[:, None]], axis=1)
    sign = apc_pair_signs(n)
    x2 = xin[..., 0 : 2 * m : 2] * xin[..., 1 : 2 * m : 2]
    w2 = wb[:, 0 : 2 * m : 2] * wb[:, 1 : 2 * m : 2] * sign
    return np.concatenate([xin, x2], -1) @ np.concatenate([wb, -w2], 1).T + sign.sum()


def _apc_conv_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    f, c, k, _ = w.shape
    n, _, h, wd = x.shape
    ho, wo = h - k + 1, wd - k + 1
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # (N, C, Ho, Wo, k, k)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n, ho * wo, c * k * k)  # (c, ky, kx)
    z = apc_inner_numpy(cols, w.reshape(f, -1), b)  # (N, Ho*Wo, F)
    return z.transpose(0, 2, 1).reshape(n, f, ho, wo)


def _maxpool2_numpy(z: np.ndarray) -> np.ndarray:
    n, c, h, w = z.shape
    return z.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def apc_forward_numpy(
    weights: LeNet5Weights, images_uint8: np.ndarray, batch_size: int = 250
) -> np.ndarray:
    """Logits (N, 10) of the network with every inner product replaced by its APC expectation
    (z_apc = 2 E - n), float64; pooling and tanh(z / s) as in ``archsim.nn.lenet.forward``."""
    wt = weights.clipped()
    s = wt.s
    x_all = pixels_to_bipolar(images_uint8)
    out = []
    for lo in range(0, len(x_all), batch_size):
        x = x_all[lo : lo + batch_size]
        a = np.tanh(_maxpool2_numpy(_apc_conv_numpy(x, wt.conv1_w, wt.conv1_b)) / s["conv1"])
        a = np.tanh(_maxpool2_numpy(_apc_conv_numpy(a, wt.conv2_w, wt.conv2_b)) / s["conv2"])
        a = a.reshape(len(x), -1)
        a = np.tanh(apc_inner_numpy(a, wt.fc1_w, wt.fc1_b) / s["fc1"])
        out.append(apc_inner_numpy(a, wt.fc2_w, wt.fc2_b))
    return np.concatenate(out) if out else np.zeros((0, 10))


def apc_accuracy(weights: LeNet5Weights, images_uint8: np.ndarray, labels: np.ndarray) -> float:
    """Test accuracy of :func:`apc_forward_numpy` (argmax of the logits)."""
    pred = apc_forward_numpy(weights, images_uint8).argmax(axis=1)
    return float(np.mean(pred == np.asarray(labels)))


# ----------------------------------------------------------------------------- training


def to_bipolar(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) bipolar, exactly as the reference does."""
    x = torch.from_numpy(images.astype(np.float32))[:, None]
    return x * (2.0 / 255.0) - 1.0


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (background -1 = black)."""
    if max_shift <= 0:
        return x
    n, size = x.shape[0], x.shape[-1]
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    ar = torch.arange(size)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + ar)[:, None, :, None].expand(n, 1, size, pad.shape[-1])
    cols = (dx[:, None] + ar)[:, None, None, :].expand(n, 1, size, size)
    return pad.gather(2, rows).gather(3, cols)


@torch.no_grad()
def evaluate(model: SCLeNet5, x: torch.Tensor, y: torch.Tensor, noise: bool) -> float:
    model.eval()
    correct = 0
    for lo in range(0, len(x), 1000):
        pred = model(x[lo : lo + 1000], noise=noise).argmax(1)
        correct += int((pred == y[lo : lo + 1000]).sum())
    return correct / len(x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=sorted(DEFAULT_OUT))
    p.add_argument(
        "--data-dir", default=None, help="folder with <dataset>/ (default $ARCHSIM_DATA)"
    )
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam LR (one-cycle schedule)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--tanh-s", type=float, default=1.0, help="tanh gain s of every layer")
    p.add_argument("--sc-noise-length", type=int, default=1024, help="stream length L; 0 = off")
    p.add_argument("--sc-noise-scale", type=float, default=1.0)
    p.add_argument(
        "--augment-shift", type=int, default=1, help="max random shift in pixels (0 = off)"
    )
    p.add_argument(
        "--counter",
        default="pc",
        choices=("apc", "pc", "mixed"),
        help="train through the APC expectation, the exact parallel count (default), or "
        "alternate the two batch by batch (mixed)",
    )
    p.add_argument(
        "--max-train",
        type=int,
        default=0,
        help="use only the first N training images (0 = all; for timing and smoke runs)",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from the weights of this .npz (fine-tuning) instead of a random init",
    )
    p.add_argument(
        "--hw-model",
        action="store_true",
        help="train through what the simulated hardware computes (HardwareModel): 128-level "
        "weights, segment max pooling as a soft selection, Btanh gain and output spread",
    )
    p.add_argument(
        "--hw-gains",
        default="1.0,0.65,1.4",
        help="Btanh gains g of conv1,conv2,fc1 (y = tanh(g z))",
    )
    p.add_argument(
        "--hw-noise",
        default="0.2,0.65,1.0",
        help="Btanh output spread sigma of conv1,conv2,fc1 (std sigma sqrt(1-y^2))",
    )
    p.add_argument("--hw-pool-segment", type=int, default=16, help="0 = exact max pooling")
    p.add_argument("--hw-pool-tau", type=float, default=0.5, help="c in tau = c sqrt(n/seg)")
    p.add_argument("--hw-weight-levels", type=int, default=128, help="0 = no quantization")
    p.add_argument(
        "--hw-fc-groups",
        type=int,
        default=0,
        help="with --counter apc: the FC layers are MUX-shared with G groups, so the APC pairs "
        "slots of each MUX phase (DW-CNN: 25); 0 = unshared pairing",
    )
    p.add_argument(
        "--val-count",
        type=int,
        default=0,
        help="hold out the last N training images as a validation split (not trained on)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(args.seed)

    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        p.error("set --data-dir or ARCHSIM_DATA to a folder filled by `archsim data fetch`")
    tr_img, tr_lab, tr_src = load_dataset(args.dataset, "train", data_dir)
    te_img, te_lab, te_src = load_dataset(args.dataset, "test", data_dir)
    if args.max_train:
        tr_img, tr_lab = tr_img[: args.max_train], tr_lab[: args.max_train]
        tr_src += f", first {len(tr_lab)} used"
    x_tr, y_tr = to_bipolar(tr_img), torch.from_numpy(tr_lab.astype(np.int64))
    x_te, y_te = to_bipolar(te_img), torch.from_numpy(te_lab.astype(np.int64))
    print(f"train: {tr_src}\ntest: {te_src}", flush=True)

    x_va = y_va = None
    if args.val_count:
        x_va, y_va = x_tr[-args.val_count :], y_tr[-args.val_count :]
        x_tr, y_tr = x_tr[: -args.val_count], y_tr[: -args.val_count]
        tr_src += f", last {args.val_count} held out for validation"
    counters = ("apc", "pc") if args.counter == "mixed" else (args.counter,)
    hw = None
    if args.hw_model:

        def floats(text: str) -> dict:
            vals = [float(v) for v in text.split(",")]
            if len(vals) != len(HIDDEN):
                p.error(f"{text!r}: give {len(HIDDEN)} comma-separated numbers")
            return dict(zip(HIDDEN, vals, strict=True))

        hw = HardwareModel(
            gains=floats(args.hw_gains),
            noise=floats(args.hw_noise),
            pool_segment=args.hw_pool_segment,
            weight_levels=args.hw_weight_levels,
            pool_tau_scale=args.hw_pool_tau,
            fc_groups=args.hw_fc_groups,
        )
    model = SCLeNet5(args.tanh_s, args.sc_noise_length, args.sc_noise_scale, counters[0], hw)
    if args.init is not None:
        init = load_weights(args.init)
        with torch.no_grad():
            for name in ("conv1", "conv2", "fc1", "fc2"):
                layer = getattr(model, name)
                layer.weight.copy_(torch.from_numpy(getattr(init, f"{name}_w")))
                layer.bias.copy_(torch.from_numpy(getattr(init, f"{name}_b")))
            if "temperature" in init.metadata:
                model.log_temperature.fill_(math.log(float(init.metadata["temperature"])))
    model.clamp_()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(x_tr) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
    )
    history = []
    t_start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        total_loss = 0.0
        for step, lo in enumerate(range(0, len(x_tr), args.batch_size)):
            model.counter = counters[step % len(counters)]
            idx = perm[lo : lo + args.batch_size]
            xb = random_shift(x_tr[idx], args.augment_shift, gen)
            logits = model(xb, noise=True)
            loss = F.cross_entropy(logits * model.log_temperature.exp(), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            model.clamp_()
            total_loss += float(loss.detach()) * len(idx)
        # test accuracy with each trained counter (the first one is "test_acc_torch"); one
        # noisy draw at the end only (an APC evaluation of the test set is not free)
        accs = {}
        for c in counters:
            model.counter = c
            accs[c] = evaluate(model, x_te, y_te, noise=False)
        model.counter = counters[0]
        last = epoch == args.epochs
        acc_noisy = (
            evaluate(model, x_te, y_te, noise=True) if args.sc_noise_length and last else None
        )
        rec = {
            "epoch": epoch,
            "loss": round(total_loss / len(x_tr), 5),
            "test_acc_torch": accs[counters[0]],
            **{f"test_acc_torch_{c}": a for c, a in accs.items() if c != counters[0]},
            "test_acc_torch_noisy": acc_noisy,
            **(
                {
                    "val_acc_torch": evaluate(model, x_va, y_va, noise=False),
                    "val_acc_torch_noisy": evaluate(model, x_va, y_va, noise=True),
                }
                if x_va is not None
                else {}
            ),
            "temperature": round(float(model.log_temperature.detach().exp()), 5),
            "seconds": round(time.time() - t0, 1),
        }
        history.append(rec)
        print(rec, flush=True)
    train_seconds = time.time() - t_start

    metadata = {
        "model": "SC LeNet-5 (DW-CNN): 784-11520-2880-3200-800-500-10, pool before tanh",
        "dataset": args.dataset,
        "train_source": tr_src,
        "test_source": te_src,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
        "optimizer": "Adam + OneCycleLR (cosine), weights/biases clamped to [-1,1] every step",
        "loss": "cross-entropy on logits * T, T learned",
        "counter": args.counter,
        "counter_note": (
            "apc: every pre-activation is the expected APC output z = 2E - n (Kim OR/AND "
            "pairs in hardware input order, bias last), computed exactly in training"
            if args.counter == "apc"
            else "pc: exact inner products"
            if args.counter == "pc"
            else "mixed: batches alternate between the APC expectation (z = 2E - n, Kim OR/AND "
            "pairs in hardware input order, bias last) and exact inner products"
        ),
        "temperature": float(model.log_temperature.detach().exp()),
        "sc_noise_std": model.noise_std,
        "hardware_model": None
        if hw is None
        else {
            "gains": hw.gains,
            "noise": hw.noise,
            "pool_segment": hw.pool_segment,
            "pool_tau_scale": hw.pool_tau_scale,
            "weight_levels": hw.weight_levels,
            "fc_groups": hw.fc_groups,
        },
        "init": None if args.init is None else str(args.init),
        "epochs": args.epochs,
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    weights = model.export(metadata)
    float_acc = accuracy(weights, te_img, te_lab)
    metadata["float_test_accuracy"] = float_acc
    metadata["float_test_accuracy_note"] = (
        f"archsim.nn.lenet.forward (NumPy, float64) on the full {len(te_lab)}-image test set"
    )
    if hw is not None:
        metadata["float_test_accuracy_note"] += (
            " -- exact max pooling and tanh, not the hardware model this model was trained for"
        )
        metadata["float_hw_test_accuracy"] = history[-1]["test_acc_torch"]
        metadata["float_hw_test_accuracy_note"] = (
            "torch forward through the hardware model (HardwareModel, no noise) on the full "
            f"{len(te_lab)}-image test set: what this model was trained for"
        )
    apc_acc = apc_accuracy(weights, te_img, te_lab)
    metadata["float_apc_test_accuracy"] = apc_acc
    metadata["float_apc_test_accuracy_note"] = (
        "apc_forward_numpy (training/train_lenet5.py; every inner product replaced by its "
        f"expected APC output, float64) on the full {len(te_lab)}-image test set"
    )
    out = args.out or DEFAULT_OUT[args.dataset]
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(weights, out)
    print(
        f"float test accuracy (NumPy reference): {float_acc:.4f}; float-APC: {apc_acc:.4f}; "
        f"wrote {out} "
        f"({out.stat().st_size} bytes) in {train_seconds:.0f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
