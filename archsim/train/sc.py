"""What the stochastic-computing stream fabric computes, as a differentiable torch model.

:class:`SCModel` is the hardware model the trainer uses for ``sc_stream`` designs, built
from the elaborated network's layer specs (one per weighted op of the workload):

* **weight stream levels**: an L_w-bit stochastic weight stream holds exactly
  ``round((w + 1) / 2 L_w)`` ones, so the datapath multiplies by
  ``w_q = 2 round((w + 1) / 2 L_w) / L_w - 1`` (straight-through gradient); 7-bit binary
  weights (one SNG per weight) by the ``2^bits``-level grid of the same form;
* **APC pairing bias**: with an approximate parallel counter (Kim et al.) input pair
  j = (2j, 2j+1) is ORed (j even) or ANDed (j odd); with independent streams the decoded sum
  the next block sees is ``sum_i q_i + sum_j s_j (1 - q_2j q_2j+1)``, q_i = x_i w_i, bias last
  (:func:`apc_inner`); a MUX-shared FC pairs the G slots of each MUX phase instead
  (:func:`apc_inner_shared`, DW-CNN Fig. 10); conv windows are in (c, ky, kx) order;
* **stream-length noise**: the last layer's decoded sum of n products from L-bit streams
  has a spread of about ``sqrt(n / L)``, drawn while training (``noise_model="constant"``,
  n the counter's inputs); ``noise_model="product"`` draws it from the products' own
  variance, ``sqrt(sum_i (1 - q_i^2) / L)`` over every input of the neuron, bias included
  (a bipolar bit of value q has variance 1 - q^2: saturated products are quiet), which is
  what a MUX-shared last layer shows; ``noise_scale`` scales either, and
  :func:`archsim.train.calibrate.calibrate` can fit it to the simulator;
* **segment max pooling**: each segment forwards the candidate whose previous segment of
  ``pool_segment`` cycles counted most, a noisy max: ``sum_k softmax(z / tau)_k z_k`` with
  ``tau = c sqrt(n / segment)`` (:func:`soft_segment_pool`);
* **Btanh transfer and gain**: the up/down counter's output is ``tanh(g z / s)`` on average
  with a per-layer gain g and a spread ``sigma sqrt(1 - y^2)``; g and sigma are measured on
  the bit-exact simulator (:func:`archsim.train.calibrate.calibrate`) or given.

Weights and biases are bipolar numbers: clamped to [-1, 1] after every step.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archsim.train.model import HardwareModel
from archsim.workload import ops as O

__all__ = ["LayerHW", "SCModel", "apc_inner", "apc_inner_numpy", "apc_inner_shared",
           "apc_inner_shared_numpy", "apc_pair_signs", "quantize_stream_weight",
           "sc_hardware_model", "shared_apc_plan", "soft_segment_pool"]


def apc_pair_signs(n: int) -> np.ndarray:
    """s_j of the n // 2 APC pairs: +1 for an OR pair (even j), -1 for an AND pair (odd j)."""
    return np.where(np.arange(n // 2) % 2 == 0, 1.0, -1.0)


def apc_inner(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Expected decoded APC sum ``2 E - n`` of every neuron: ``x`` (..., K) inputs in
    hardware order, ``w`` (F, K), ``b`` (F,) (input K, value +1) -> (..., F). One matrix
    product on the inputs and the products of neighbouring inputs."""
    n = x.shape[-1] + 1
    m = n // 2
    xin = torch.cat([x, x.new_ones(x.shape[:-1] + (1,))], -1)
    wb = torch.cat([w, b[:, None]], 1)
    sign = torch.from_numpy(apc_pair_signs(n)).to(w.dtype)
    x2 = xin[..., 0:2 * m:2] * xin[..., 1:2 * m:2]
    w2 = wb[:, 0:2 * m:2] * wb[:, 1:2 * m:2] * sign
    return F.linear(torch.cat([xin, x2], -1), torch.cat([wb, -w2], 1)) + float(sign.sum())


def apc_inner_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy float64 twin of :func:`apc_inner`."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1] + 1
    m = n // 2
    xin = np.concatenate([x, np.ones(x.shape[:-1] + (1,))], axis=-1)
    wb = np.concatenate([np.asarray(w, np.float64), np.asarray(b, np.float64)[:, None]], axis=1)
    sign = apc_pair_signs(n)
    x2 = xin[..., 0:2 * m:2] * xin[..., 1:2 * m:2]
    w2 = wb[:, 0:2 * m:2] * wb[:, 1:2 * m:2] * sign
    out: np.ndarray = np.concatenate([xin, x2], -1) @ np.concatenate([wb, -w2], 1).T \
        + sign.sum()
    return out


@functools.cache
def shared_apc_plan(n: int, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """APC pairs of a MUX-shared FC layer with n inputs (bias last) and G groups.

    In MUX phase m, slot k carries input k + G m; the G-input APC pairs slots (2j, 2j+1), OR
    for even j, AND for odd j. Slots past the fan-in carry the bipolar-zero stream 0101...
    (q = 0): a (real, pad) pair adds the constant s_j, a (pad, pad) pair adds 0. Returns
    (a, b, s) of the pairs of two real inputs and the constant."""
    a, b, sg, const = [], [], [], 0.0
    for m in range(-(-n // groups)):
        for j in range(groups // 2):
            ia, ib, sj = groups * m + 2 * j, groups * m + 2 * j + 1, 1.0 if j % 2 == 0 else -1.0
            if ib < n:
                a.append(ia)
                b.append(ib)
                sg.append(sj)
                const += sj
            elif ia < n:
                const += sj
    return np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), np.array(sg), const


def apc_inner_shared(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, groups: int
                     ) -> torch.Tensor:
    """Expected decoded APC sum of a MUX-shared FC layer over its M phases (see
    :func:`shared_apc_plan`); x (..., K) -> (..., F)."""
    n = x.shape[-1] + 1
    ia, ib, sg, const = shared_apc_plan(n, groups)
    xin = torch.cat([x, x.new_ones(x.shape[:-1] + (1,))], -1)
    wb = torch.cat([w, b[:, None]], 1)
    ia_t, ib_t = torch.from_numpy(ia), torch.from_numpy(ib)
    w2 = wb[:, ia_t] * wb[:, ib_t] * torch.from_numpy(sg).to(w.dtype)
    x2 = xin[..., ia_t] * xin[..., ib_t]
    return F.linear(torch.cat([xin, x2], -1), torch.cat([wb, -w2], 1)) + const


def apc_inner_shared_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray, groups: int
                           ) -> np.ndarray:
    """NumPy float64 twin of :func:`apc_inner_shared`."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1] + 1
    ia, ib, sg, const = shared_apc_plan(n, groups)
    xin = np.concatenate([x, np.ones(x.shape[:-1] + (1,))], axis=-1)
    wb = np.concatenate([np.asarray(w, np.float64), np.asarray(b, np.float64)[:, None]], axis=1)
    out: np.ndarray = xin @ wb.T - (xin[..., ia] * xin[..., ib]) @ (wb[:, ia] * wb[:, ib]
                                                                    * sg).T + const
    return out


def quantize_stream_weight(w: torch.Tensor, levels: int) -> torch.Tensor:
    """The value of a ``levels``-bit stream with exactly ``round((w + 1) / 2 levels)`` ones,
    with a straight-through gradient (``levels`` 0: unchanged)."""
    if not levels:
        return w
    q = torch.round((w.clamp(-1, 1) + 1) * (levels / 2)) * (2 / levels) - 1
    return w + (q - w).detach()


def soft_segment_pool(z: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                      tau: float) -> torch.Tensor:
    """Expected forwarded pre-activation of segment max pooling: per window
    ``sum_k softmax(z / tau)_k z_k`` (tau 0: the exact max)."""
    if tau <= 0:
        return F.max_pool2d(z, kernel, stride)
    win = z.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1])
    win = win.reshape(*win.shape[:4], -1)
    return (torch.softmax(win / tau, dim=-1) * win).sum(-1)


@dataclass
class LayerHW:
    """What one SC layer does: counter (``pc`` / ``apc``), weight levels, MUX groups of a
    shared FC (0: unshared), counter inputs n, pooling segment, Btanh gain and spread."""

    counter: str
    levels: int
    groups: int
    inputs: int
    pool_segment: int
    gain: float = 1.0
    spread: float = 0.0
    last: bool = False


@dataclass
class SCModel(HardwareModel):
    """The SC stream datapath (module docstring): ``layers`` by weighted-op name;
    ``stream_length`` the input stream length L; ``pool_tau`` the c of tau; ``noise_scale``
    the last layer's noise in units of sqrt(n / L)."""

    layers: dict[str, LayerHW]
    stream_length: int
    pool_tau: float = 0.5
    noise_scale: float = 1.0
    noise_model: str = "constant"
    """``"constant"``: the last layer's noise is ``sqrt(n / L)`` (n the counter's inputs);
    ``"product"``: ``sqrt(sum_i (1 - q_i^2) / L)`` over the neuron's products (module
    docstring)."""
    clamp: float | None = 1.0
    calibration: dict[str, Any] = field(default_factory=dict)
    workload: Any = None
    """The network the layers compute (:class:`~archsim.workload.Workload`)."""
    weights: Any = None
    """Its weights as the design loads them (the fine-tuning's start)."""

    def weight(self, op: O.WeightedOp, w: torch.Tensor) -> torch.Tensor:
        return quantize_stream_weight(w, self.layers[op.name].levels)

    def bias(self, op: O.WeightedOp, b: torch.Tensor) -> torch.Tensor:
        return quantize_stream_weight(b, self.layers[op.name].levels)

    def weighted(self, op: O.WeightedOp, x: torch.Tensor, w: torch.Tensor,
                 b: torch.Tensor | None, noise: bool) -> torch.Tensor:
        hw = self.layers[op.name]
        assert b is not None  # the SC fabric maps only layers with bias
        if hw.counter != "apc":
            z = super().weighted(op, x, w, b, noise)
        elif isinstance(op, O.Conv2d):
            f = w.shape[0]
            _, ho, wo = op.out_shape
            cols = F.unfold(x, op.kernel, padding=op.padding, stride=op.stride)  # (c, ky, kx)
            z = apc_inner(cols.transpose(1, 2), w.reshape(f, -1), b)
            z = z.transpose(1, 2).reshape(x.shape[0], f, ho, wo)
        elif hw.groups:
            z = apc_inner_shared(x, w, b, hw.groups)
        else:
            z = apc_inner(x, w, b)
        if hw.last and noise and self.noise_scale > 0:
            z = z + torch.randn_like(z) * (self.noise_scale * self.noise_unit(op, x, w, b))
        return z

    def noise_unit(self, op: O.WeightedOp, x: torch.Tensor, w: torch.Tensor,
                   b: torch.Tensor | None) -> torch.Tensor | float:
        """The last layer's noise spread for ``noise_scale`` 1 (module docstring): a number
        (``constant``) or one per neuron and image (``product``; dense layers)."""
        hw = self.layers[op.name]
        if self.noise_model == "constant" or isinstance(op, O.Conv2d):
            return math.sqrt(hw.inputs / self.stream_length)
        if self.noise_model != "product":
            raise ValueError(f"noise_model {self.noise_model!r}: expected constant or product")
        x2 = x.flatten(1) ** 2
        q2 = F.linear(x2, w ** 2, None if b is None else b ** 2)
        n = x2.shape[-1] + (0 if b is None else 1)
        return torch.sqrt((n - q2).clamp_min(0.0) / self.stream_length)

    def pool(self, op: O.Pool, layer: str, x: torch.Tensor, noise: bool) -> torch.Tensor:
        hw = self.layers.get(layer)
        if not isinstance(op, O.MaxPool) or hw is None or not hw.pool_segment:
            return super().pool(op, layer, x, noise)
        tau = self.pool_tau * math.sqrt(hw.inputs / hw.pool_segment)
        return soft_segment_pool(x, op.kernel, op.stride, tau)

    def activation(self, op: O.Op, layer: str, x: torch.Tensor, noise: bool) -> torch.Tensor:
        if not isinstance(op, O.Btanh) or layer not in self.layers:
            return super().activation(op, layer, x, noise)
        hw = self.layers[layer]
        y = torch.tanh(x * (hw.gain / op.s))
        if noise and hw.spread > 0:
            y = y + hw.spread * torch.sqrt((1 - y * y).clamp_min(1e-6)) * torch.randn_like(y)
            y = y.clamp(-1.0, 1.0)
        return y

    def describe(self) -> dict[str, Any]:
        return {"model": "SC stream datapath (archsim.train.sc)",
                "stream_length": self.stream_length, "pool_tau": self.pool_tau,
                "noise_scale": self.noise_scale, "noise_model": self.noise_model,
                "layers": {k: vars(v) for k, v in self.layers.items()},
                "calibration": self.calibration}


def sc_hardware_model(cfg: Any, net: Any) -> SCModel:
    """The :class:`SCModel` of an elaborated ``sc_stream`` network (gains 1, no spread:
    :func:`archsim.train.calibrate.calibrate` measures them)."""
    layers: dict[str, LayerHW] = {}
    specs = list(net.spec.layers)
    for i, lay in enumerate(specs):
        levels = lay.weight_length if lay.weight_format == "stochastic" else 2 ** lay.weight_bits
        layers[lay.name] = LayerHW(
            counter=lay.counter, levels=int(levels),
            groups=int(lay.mux_groups or 0) if lay.shared_fc else 0,
            inputs=int(lay.counter_inputs), pool_segment=int(lay.pool_segment),
            last=i == len(specs) - 1)
    apc = any(h.counter == "apc" for h in layers.values())
    ref = net.float_reference  # the SC network's workload and clipped weights
    return SCModel(layers, int(net.spec.stream_length), pool_tau=0.8 if apc else 0.5,
                   workload=ref.workload, weights=ref.weights)
