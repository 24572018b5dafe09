"""A workload as a torch network, computed through a differentiable model of a fabric.

:class:`TorchWorkload` builds the network of any :class:`~archsim.workload.Workload`
(conv2d, dense, max/avg pooling, flatten, btanh, relu, sign, quantize, batchnorm, add, none)
with the weights of a :class:`~archsim.workload.WorkloadWeights`. Every op is computed by a
:class:`HardwareModel` hook, so one network trains through what any accelerator computes:

* :class:`HardwareModel` (the base) is the workload's float reference (the ops as
  docs/workloads.md defines them);
* :class:`QuantizerModel` adds the workload's quantizers with straight-through gradients:
  weights of ``model.layers.<op>.bits`` on their symmetric grid, ``sign`` and ``quantize``
  (DoReFa) activations: what a binarized or bit-plane in-memory fabric computes;
* :class:`archsim.train.sc.SCModel` models the stochastic-computing stream datapath.

Which model a design trains through is :mod:`archsim.train.registry`'s choice (by fabric).
Needs torch (the ``[train]`` extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archsim.workload import INPUT, Workload, WorkloadWeights
from archsim.workload import ops as O

__all__ = ["HardwareModel", "QuantizerModel", "TorchWorkload", "ste_round", "ste_sign"]


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity gradient (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def ste_sign(x: torch.Tensor) -> torch.Tensor:
    """+1 where x >= 0 else -1 forward; gradient of hardtanh (1 on |x| <= 1, else 0)."""
    y = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    clipped = x.clamp(-1.0, 1.0)
    return clipped + (y - clipped).detach()


class HardwareModel:
    """The workload's float semantics (docs/workloads.md), as overridable hooks.

    ``layer`` is the name of the weighted op whose stage (``Workload.stages``) the op
    belongs to: the accelerator layer that computes it. ``noise`` is true while training
    (stochastic effects are drawn) and false for evaluation (their expectation)."""

    #: weights and biases are clamped to [-clamp, clamp] after each step (None: no clamp)
    clamp: float | None = None
    #: the network and its starting weights (set by the fabric's factory)
    workload: Any = None
    weights: Any = None

    def weight(self, op: O.WeightedOp, w: torch.Tensor) -> torch.Tensor:
        return w

    def bias(self, op: O.WeightedOp, b: torch.Tensor) -> torch.Tensor:
        return b

    def weighted(self, op: O.WeightedOp, x: torch.Tensor, w: torch.Tensor,
                 b: torch.Tensor | None, noise: bool) -> torch.Tensor:
        if isinstance(op, O.Conv2d):
            return F.conv2d(x, w, b, stride=op.stride, padding=op.padding, groups=op.groups)
        return F.linear(x, w, b)

    def pool(self, op: O.Pool, layer: str, x: torch.Tensor, noise: bool) -> torch.Tensor:
        if isinstance(op, O.MaxPool):
            return F.max_pool2d(x, op.kernel, op.stride)
        return F.avg_pool2d(x, op.kernel, op.stride)

    def activation(self, op: O.Op, layer: str, x: torch.Tensor, noise: bool) -> torch.Tensor:
        if isinstance(op, O.Btanh):
            return torch.tanh(x / op.s)
        if isinstance(op, O.Relu):
            return F.relu(x)
        if isinstance(op, O.Sign):
            return ste_sign(x)
        if isinstance(op, O.Quantize):
            return ste_round(x.clamp(0.0, 1.0) * op.levels) / op.levels
        return x  # none

    def describe(self) -> dict[str, Any]:
        """What the model models, for the trained file's metadata."""
        return {"model": "float reference"}


class QuantizerModel(HardwareModel):
    """The workload's quantizers with straight-through gradients, as the weights loader
    applies them (:func:`archsim.workload.quantize.quantize_weights`): the weights of layers
    with ``model.layers.<op>.bits`` K on their grid, ``symmetric`` (K >= 2: ``step = max|w| /
    (2^(K-1) - 1)`` over the kept weights, K = 1: ``sign(w) * mean|w|`` of the kept weights)
    or ``dorefa`` (``quantizers[op]``: the 2^K levels ``(2u - L) / L`` times ``max|w|``),
    pruned weights (``masks[op]``, True = kept) code 0; ``sign`` and ``quantize`` ops (the base
    class already computes those two with straight-through gradients). What a bit-plane
    in-memory fabric computes; a fabric whose arithmetic differs registers its own model."""

    def __init__(self, bits: dict[str, int] | None = None,
                 quantizers: dict[str, str] | None = None,
                 masks: dict[str, Any] | None = None) -> None:
        self.bits = dict(bits or {})
        self.quantizers = dict(quantizers or {})
        self.masks = {n: torch.tensor(np.array(m, dtype=bool))
                      for n, m in (masks or {}).items() if m is not None}

    def weight(self, op: O.WeightedOp, w: torch.Tensor) -> torch.Tensor:
        k = self.bits.get(op.name)
        if not k:
            return w
        keep = self.masks.get(op.name)
        with torch.no_grad():  # the grid (a straight-through estimator: no gradient)
            kept = w.abs() if keep is None else w.abs()[keep]
            biggest = float(kept.max()) if kept.numel() else 0.0
            if self.quantizers.get(op.name, "symmetric") == "dorefa":
                levels = (1 << k) - 1
                scale = biggest if biggest > 0 else 1.0
                u = torch.clamp(torch.round((w / scale + 1.0) * (levels / 2.0)), 0, levels)
                q = (2 * u - levels) * (scale / levels)
            elif k == 1:
                step = float(kept.mean()) if biggest > 0 else 1.0
                q = torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w)) * step
            else:
                top = (1 << (k - 1)) - 1
                step = biggest / top if biggest > 0 else 1.0
                q = torch.clamp(torch.round(w / step), -top, top) * step
        if keep is not None:
            q = torch.where(keep, q, torch.zeros_like(q))
        return w + (q - w).detach()

    def describe(self) -> dict[str, Any]:
        return {"model": "workload quantizers (straight-through)", "weight_bits": self.bits,
                "quantizers": {n: self.quantizers.get(n, "symmetric") for n in self.bits}}


class TorchWorkload(nn.Module):
    """The network of ``workload`` with trainable weights (initialised from ``weights``)
    computed through ``hw``; ``forward(x)`` takes the mapped input (N, C, H, W) (as
    :func:`archsim.workload.map_input` gives it) and returns the last op's output (N, -1).
    Batch norm parameters are fixed (the hardware folds them into thresholds or scales)."""

    def __init__(self, workload: Workload, weights: WorkloadWeights, hw: HardwareModel
                 ) -> None:
        super().__init__()
        self.workload = workload
        self.hw = hw
        self.w = nn.ParameterDict()
        self.b = nn.ParameterDict()
        self.stage_of: dict[str, str] = {}
        for stage in workload.stages():
            for op in stage.ops:
                self.stage_of[op.name] = stage.layer.name
        for op in workload.ops:
            if isinstance(op, O.WeightedOp):
                p = weights.layers[op.name]
                w = p.w if p.mask is None else p.w * p.mask
                self.w[op.name] = nn.Parameter(torch.tensor(np.asarray(w), dtype=torch.float32))
                if p.b is not None:
                    self.b[op.name] = nn.Parameter(torch.tensor(np.asarray(p.b),
                                                                dtype=torch.float32))
                self.stage_of.setdefault(op.name, op.name)
        self.masks = {n: torch.tensor(np.asarray(weights.layers[n].mask), dtype=torch.float32)
                      for n in self.w if weights.layers[n].mask is not None}
        self.bn: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # written back unchanged: the batch norms, and the masks the model file held (a mask
        # the workload names by file or sparsity is applied again when the file is loaded)
        self.fixed: dict[str, np.ndarray] = {}
        layer_meta = workload.model.layers
        for name, mask in self.masks.items():
            meta = layer_meta.get(name)
            if meta is None or (meta.mask is None and meta.sparsity is None):
                self.fixed[f"{name}_mask"] = mask.numpy().astype(bool)
        for name, bn in weights.batchnorm.items():
            for key in ("gamma", "beta", "mean", "var"):
                self.fixed[f"{name}_{key}"] = np.asarray(getattr(bn, key), dtype=np.float64)
            scale = bn.gamma / np.sqrt(bn.var + bn.eps)
            shift = bn.beta - bn.mean * scale
            self.bn[name] = (torch.tensor(scale, dtype=torch.float32),
                             torch.tensor(shift, dtype=torch.float32))
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, noise: bool = False, after: str | None = None,
                capture: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The network's output; ``after``: ``x`` is the output of that op (e.g. an
        accelerator's decoded output of one layer) and only the ops after it run;
        ``capture``: filled with every op's output by op name."""
        values: dict[str, torch.Tensor] = {INPUT if after is None else after: x}
        started = after is None
        hw = self.hw
        for op in self.workload.ops:
            if not started:
                started = op.name == after
                continue
            v = values[op.input]
            layer = self.stage_of.get(op.name, op.name)
            if isinstance(op, O.WeightedOp):
                w = self.w[op.name]
                if op.name in self.masks:
                    w = w * self.masks[op.name]
                b = self.b[op.name] if op.name in self.b else None
                y = hw.weighted(op, v, hw.weight(op, w), None if b is None else hw.bias(op, b),
                                noise)
            elif isinstance(op, O.Pool):
                y = hw.pool(op, layer, v, noise)
            elif isinstance(op, O.Flatten):
                y = v.flatten(1)
            elif isinstance(op, O.BatchNorm):
                scale, shift = self.bn[op.name]
                shape = (1, -1) + (1,) * (v.dim() - 2)
                y = v * scale.view(shape) + shift.view(shape)
            elif isinstance(op, O.Add):
                y = v + values[op.other]
            else:
                y = hw.activation(op, layer, v, noise)
            values[op.name] = y
        if capture is not None:
            capture.update(values)
        return values[self.workload.ops[-1].name].flatten(1)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep weights within the hardware's range (``hw.clamp``)."""
        c = self.hw.clamp
        if c is None:
            return
        for p in [*self.w.values(), *self.b.values()]:
            p.clamp_(-c, c)

    def arrays(self) -> dict[str, np.ndarray]:
        """The trained parameters in the workload .npz layout (``<op>_w``, ``<op>_b``; the
        batch norm arrays and the model's masks as loaded)."""
        out: dict[str, np.ndarray] = dict(self.fixed)
        for name, p in self.w.items():
            w = p.detach().double()
            if name in self.masks:
                w = w * self.masks[name].double()
            out[f"{name}_w"] = w.numpy().astype(np.float32)
        for name, p in self.b.items():
            out[f"{name}_b"] = p.detach().numpy().astype(np.float32)
        return out
