"""How a workload (the network, ``archsim.workload``) maps onto SC stream layers, both ways.

An SC layer is a *stage* of the workload: a ``conv2d`` (optionally followed by a ``maxpool``:
segment max pooling of the pre-activations) and a ``btanh``, or a ``dense`` and a ``btanh``
(the last layer: a ``dense`` alone, whose output counters are the class scores).  ``flatten``
ops between stages are the (C, H, W) order the layers already use.

* :func:`expand_design`: a design file that names ``workload: <file>`` gives per layer only
  the hardware (``weights``, ``counter``, ``sharing``, ``mux_groups``, ...); the network's
  shapes, activations, data set and model come from the workload.  The file is expanded at
  load into the full layer list, so everything downstream sees one kind of description and
  the old self-contained design files keep working unchanged.
* :func:`workload_of`: the workload of an elaborated network (for any design file, old or
  new), which gives the one float reference forward of ``archsim.workload``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archsim.blocks.specs import NetworkSpec
from archsim.config.errors import ConfigError
from archsim.workload import (
    Btanh,
    Conv2d,
    Dense,
    Flatten,
    LayerParams,
    MaxPool,
    Workload,
    WorkloadWeights,
    layer_outputs,
    load_workload,
    reference_forward,
    workload_from_dict,
)
from archsim.workload.design import merge_workload_defaults, workload_path

#: keys of a layer entry that the workload defines (a design naming a workload may not)
SHAPE_KEYS = ("kind", "in_channels", "in_size", "filters", "kernel", "stride", "padding",
              "pool", "pool_stride", "inputs", "outputs", "activation")
_SUPPORTED = "conv2d [+ maxpool] + btanh, dense + btanh, or a last dense (flatten between)"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _stage_layer(wl: Workload, stage: Any, is_last: bool, label: str) -> dict[str, Any]:
    """The shape part of the SC layer that computes ``stage``."""
    op = stage.layer
    rest = [o for o in stage.ops[1:] if not isinstance(o, Flatten)]
    where = f"ops[{op.index}]"
    if isinstance(op, Conv2d):
        kh, kw = op.kernel
        if kh != kw or op.groups != 1 or op.stride[0] != op.stride[1] \
                or op.padding[0] != op.padding[1] or not op.bias:
            raise ConfigError(label, where, op.name,
                              "a conv2d the SC stream fabric runs: square kernel, equal "
                              "strides and paddings, groups 1, with bias")
        c, h, w = op.in_shape
        out: dict[str, Any] = {"kind": "conv", "in_channels": c,
                               "in_size": h if h == w else [h, w], "filters": op.out_channels,
                               "kernel": kh, "stride": op.stride[0], "padding": op.padding[0]}
        if rest and isinstance(rest[0], MaxPool):
            pool = rest.pop(0)
            if pool.kernel[0] != pool.kernel[1] or pool.stride[0] != pool.stride[1]:
                raise ConfigError(label, f"ops[{pool.index}]", pool.name,
                                  "a square max pooling with equal strides")
            out["pool"] = pool.kernel[0]
            if pool.stride[0] != pool.kernel[0]:
                out["pool_stride"] = pool.stride[0]
    elif isinstance(op, Dense):
        if not op.bias:
            raise ConfigError(label, where, op.name, "a dense op with bias")
        out = {"kind": "fc", "inputs": op.in_shape[0], "outputs": op.outputs}
    else:
        raise ConfigError(label, where, op.name, f"a stage the SC stream fabric runs: {_SUPPORTED}")
    if rest and isinstance(rest[0], Btanh):
        out["btanh"] = {"s": float(rest.pop(0).s)}
        out["activation"] = "btanh"
    elif is_last and isinstance(op, Dense):
        out["activation"] = "none"
    else:
        bad = rest[0] if rest else op
        raise ConfigError(label, f"ops[{bad.index}]", bad.name,
                          f"a btanh after each layer but the last dense: {_SUPPORTED}")
    if rest:
        raise ConfigError(label, f"ops[{rest[0].index}]", rest[0].name,
                          f"no further op in the stage of {op.name!r}: {_SUPPORTED}")
    return out


def expand_design(raw: dict[str, Any], origins: dict[tuple[Any, ...], str]) -> None:
    """Replace ``workload:`` by the full layer list (see the module docstring), in place."""
    if "workload" not in raw:
        return
    file = origins.get(("workload",), origins[()])
    ref = raw.pop("workload")
    path = workload_path(ref, file)
    wl = load_workload(path)
    label = _display(path)
    if wl.input.mapping != "bipolar":
        raise ConfigError(label, "input.mapping", wl.input.mapping,
                          "bipolar (the SC stream fabric's input SNGs)")
    stages = wl.stages()
    mapping = raw.get("layers", [])
    if not isinstance(mapping, list):
        raise ConfigError(file, "layers", mapping,
                          "a list of per-layer hardware entries, each with the name of a "
                          "weighted op of the workload")
    by_name: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, entry in enumerate(mapping):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(file, f"layers[{i}]", entry, "a mapping with the layer's name")
        names = [s.layer.name for s in stages]
        if entry["name"] not in names:
            raise ConfigError(file, f"layers[{i}].name", entry["name"],
                              f"a weighted op of {label}: one of {names}")
        for key in SHAPE_KEYS:
            if key in entry:
                raise ConfigError(file, f"layers[{i}].{key}", entry[key],
                                  f"no {key!r}: the workload {label} defines the network")
        if isinstance(entry.get("btanh"), dict) and "s" in entry["btanh"]:
            raise ConfigError(file, f"layers[{i}].btanh.s", entry["btanh"]["s"],
                              f"no Btanh gain: the workload {label} sets it (its btanh op)")
        by_name[entry["name"]] = (i, entry)
    old = {k: v for k, v in origins.items() if k[:1] == ("layers",) and len(k) > 2}
    for k in old:
        del origins[k]
    layers = []
    for j, stage in enumerate(stages):
        name = stage.layer.name
        if name not in by_name:
            raise ConfigError(file, "layers", [e.get("name") for e in mapping],
                              f"an entry for layer {name!r} of the workload {label}")
        shape = _stage_layer(wl, stage, j == len(stages) - 1, label)
        i, entry = by_name[name]
        merged = {**shape, **entry}
        if "btanh" in shape and isinstance(entry.get("btanh"), dict):
            merged["btanh"] = {**shape["btanh"], **entry["btanh"]}
        layers.append(merged)
        # the hardware keys come from the design file (its entry moved to position j), the
        # shapes from the workload
        for k, v in old.items():
            if k[1] == i:
                origins[("layers", j) + k[2:]] = v
        for key in shape:
            origins[("layers", j, key)] = label
    raw["layers"] = layers
    raw["workload_file"] = ref  # as written (informational: the layers above are complete)
    merge_workload_defaults(raw, origins, wl, label)


def workload_of(spec: NetworkSpec) -> Workload:
    """The workload an elaborated SC network computes (bipolar inputs, weights in [-1, 1])."""
    ops: list[dict[str, Any]] = []
    for i, lay in enumerate(spec.layers):
        if lay.kind == "conv":
            ops.append({"name": lay.name, "op": "conv2d", "out_channels": lay.filters,
                        "kernel": lay.kernel, "stride": lay.stride, "padding": lay.padding})
            if lay.pooled:
                ops.append({"name": f"{lay.name}_pool", "op": "maxpool", "kernel": lay.pool,
                            "stride": lay.pool_step})
        else:
            if i > 0 and spec.layers[i - 1].kind == "conv":
                ops.append({"name": f"{lay.name}_flatten", "op": "flatten"})
            ops.append({"name": lay.name, "op": "dense", "outputs": lay.outputs})
        if lay.activation == "btanh":
            ops.append({"name": f"{lay.name}_btanh", "op": "btanh", "s": lay.btanh_s})
    if spec.layers[0].kind == "fc":
        ops.insert(0, {"name": "input_flatten", "op": "flatten"})
    return workload_from_dict({
        "name": spec.name, "input": {"shape": list(spec.input_shape), "mapping": "bipolar"},
        "dataset": {"name": "random"}, "model": {"weights": "random", "clip": 1.0},
        "ops": ops}, source=f"{spec.name} (the SC layers)")


def workload_weights(spec: NetworkSpec,
                     weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> WorkloadWeights:
    """The float weights of the SC layers, clipped to the bipolar range [-1, 1]."""
    return WorkloadWeights(layers={
        lay.name: LayerParams(lay.name, np.clip(weights[lay.name][0], -1, 1),
                              np.clip(weights[lay.name][1], -1, 1))
        for lay in spec.layers})


class FloatReference:
    """The float reference of an SC network: ``archsim.workload.reference_forward`` of its
    workload; ``layers(pixels)`` gives every SC layer's output."""

    def __init__(self, spec: NetworkSpec,
                 weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.workload = workload_of(spec)
        self.weights = workload_weights(spec, weights)

    def layers(self, pixels: np.ndarray) -> list[np.ndarray]:
        return layer_outputs(self.workload,
                             reference_forward(self.workload, self.weights, pixels))
