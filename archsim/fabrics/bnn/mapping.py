"""How a workload maps onto the BNN fabric's layers, and the design file's ``workload:`` key.

A BNN layer is a *stage* of the workload (:meth:`Workload.stages`): a ``dense`` or ``conv2d``
without bias, its ``batchnorm``, a ``sign`` and, for a conv layer, an optional ``maxpool``
after the sign (an OR of binary activations); the last stage is a ``dense`` and its
``batchnorm`` (the class scores). ``flatten`` ops are the (C, H, W) order the layers use.
Convolutions run as im2col rows: one row per output position, its fan-in ``C kh kw`` in the
order of the weight array.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archsim.config.errors import ConfigError
from archsim.workload import (
    BatchNorm,
    Conv2d,
    Dense,
    Flatten,
    MaxPool,
    Sign,
    Workload,
    load_workload,
)
from archsim.workload.design import merge_workload_defaults, workload_path

_SUPPORTED = ("dense / conv2d (bias: false) + batchnorm + sign [+ maxpool after the sign], "
              "a last dense + batchnorm")


@dataclass(frozen=True)
class LayerShape:
    """The shape of one BNN layer: ``positions`` im2col rows of ``fan_in`` inputs, ``outputs``
    neurons; conv geometry; the pooling after the sign; the batchnorm op's name."""

    name: str
    kind: str  # "dense" | "conv"
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]  # after pooling
    fan_in: int
    outputs: int
    positions: int
    conv_hw: tuple[int, int] = (1, 1)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pool: tuple[int, int] | None = None  # (kernel, stride), square
    bn: str = ""
    is_last: bool = False

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def im2col(self) -> np.ndarray:
        """``int64[positions, fan_in]``: the flat input index of each row's inputs, -1 for a
        zero-padding position."""
        if self.kind == "dense":
            return np.arange(self.fan_in, dtype=np.int64)[None, :]
        c, h, w = self.in_shape
        kh, kw = self.kernel
        sh, sw = self.stride
        ph, pw = self.padding
        ho, wo = self.conv_hw
        oy, ox = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
        ch, ky, kx = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
        y = oy.reshape(-1, 1) * sh + ky.reshape(1, -1) - ph
        x = ox.reshape(-1, 1) * sw + kx.reshape(1, -1) - pw
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        idx = (ch.reshape(1, -1) * h + y) * w + x
        return np.where(inside, idx, -1).astype(np.int64)


def _label(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def layer_shapes(wl: Workload, label: str) -> list[LayerShape]:
    """The BNN layers of ``wl``; a ConfigError naming the op the fabric cannot run."""
    for op in wl.ops:
        if wl.stages() and op.index < wl.stages()[0].layer.index and not isinstance(op, Flatten):
            raise ConfigError(label, f"ops[{op.index}]", op.name,
                              f"only flatten before the first weighted op ({_SUPPORTED})")
    stages = wl.stages()
    if not stages:
        raise ConfigError(label, "ops", [o.name for o in wl.ops], f"a network of {_SUPPORTED}")
    out = []
    for j, st in enumerate(stages):
        op = st.layer
        last = j == len(stages) - 1
        rest = [o for o in st.ops[1:] if not isinstance(o, Flatten)]
        where = f"ops[{op.index}]"
        if op.bias:
            raise ConfigError(label, f"{where}.bias", True,
                              "false: a BNN neuron has no bias (the batchnorm folds into its "
                              "threshold)")
        if not rest or not isinstance(rest[0], BatchNorm):
            bad = rest[0] if rest else op
            raise ConfigError(label, f"ops[{bad.index}]", bad.name,
                              f"a batchnorm after {op.name!r} ({_SUPPORTED})")
        bn = rest.pop(0)
        pool = None
        if last:
            if not isinstance(op, Dense):
                raise ConfigError(label, where, op.name, f"a last dense layer ({_SUPPORTED})")
            if rest:
                raise ConfigError(label, f"ops[{rest[0].index}]", rest[0].name,
                                  f"nothing after the last batchnorm ({_SUPPORTED})")
        else:
            if not rest or not isinstance(rest[0], Sign):
                bad = rest[0] if rest else bn
                raise ConfigError(label, f"ops[{bad.index}]", bad.name,
                                  f"a sign after the batchnorm {bn.name!r} ({_SUPPORTED})")
            rest.pop(0)
            if rest and isinstance(rest[0], MaxPool) and isinstance(op, Conv2d):
                p = rest.pop(0)
                assert isinstance(p, MaxPool)
                if p.kernel[0] != p.kernel[1] or p.stride[0] != p.stride[1]:
                    raise ConfigError(label, f"ops[{p.index}]", p.name,
                                      "a square max pooling with equal strides")
                pool = (p.kernel[0], p.stride[0])
            if rest:
                raise ConfigError(label, f"ops[{rest[0].index}]", rest[0].name,
                                  f"no further op in the stage of {op.name!r} ({_SUPPORTED})")
        if isinstance(op, Conv2d):
            if op.groups != 1:
                raise ConfigError(label, f"{where}.groups", op.groups, "1")
            ho, wo = op.out_shape[1], op.out_shape[2]
            out_shape: tuple[int, ...] = op.out_shape
            if pool is not None:
                k, s = pool
                out_shape = (op.out_channels, (ho - k) // s + 1, (wo - k) // s + 1)
            out.append(LayerShape(op.name, "conv", op.in_shape, out_shape, op.fan_in,
                                  op.out_channels, ho * wo, (ho, wo), op.kernel, op.stride,
                                  op.padding, pool, bn.name, last))
        elif isinstance(op, Dense):
            out.append(LayerShape(op.name, "dense", op.in_shape, (op.outputs,), op.fan_in,
                                  op.outputs, 1, bn=bn.name, is_last=last))
    return out


def expand_design(raw: dict[str, Any], origins: dict[tuple[Any, ...], str]) -> None:
    """Resolve ``workload:`` into ``workload_file`` and merge the workload's data set and
    model under the design's own (in place)."""
    file = origins.get(("workload",), origins[()])
    if "workload" not in raw:
        raise ConfigError(file, "workload", None,
                          "the path of a workload file: a BNN design runs a workload's network")
    path = workload_path(raw.pop("workload"), file)
    wl = load_workload(path)
    raw["workload_file"] = str(path.resolve())
    origins[("workload_file",)] = file
    label = _label(path)
    merge_workload_defaults(raw, origins, wl, label)


def design_workload(workload_file: str, weights: str) -> Workload:
    """The design's workload with its model source set to the design's ``model.weights``."""
    wl = load_workload(workload_file)
    if weights != wl.model.weights:
        wl = dataclasses.replace(wl, model=dataclasses.replace(wl.model, weights=weights))
    return wl
