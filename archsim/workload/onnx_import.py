"""Networks from the user's framework: an ONNX graph as a workload and its weights.

:func:`import_onnx` reads an ``.onnx`` file (PyTorch ``torch.onnx.export``, Keras via
tf2onnx, ...) and returns an :class:`ImportedModel`: the workload as plain data (what a
workload YAML file holds, docs/workloads.md) and the model arrays in the ``.npz`` layout.
``archsim import-onnx MODEL.onnx --out DIR`` writes both (``DIR/<name>.yaml`` naming
``DIR/<name>.npz``); a design file then runs it with ``workload: DIR/<name>.yaml``.

Nodes and what they become (the graph in node order, one input image tensor ``N x C x H x W``
or ``N x F``):

===================================  ===============================================
ONNX                                 workload op
===================================  ===============================================
Conv (2-D, dilation 1, symmetric     ``conv2d`` (kernel, stride, padding, groups; bias
pads)                                when the node has one)
Gemm (alpha = beta = 1, transA 0)    ``dense`` (``B`` transposed unless ``transB``)
MatMul by a constant                 ``dense`` without bias; a following ``Add`` of a
                                     constant vector becomes its bias
Relu, Tanh, Sign                     ``relu``, ``btanh`` (s = 1), ``sign``
MaxPool, AveragePool (no padding,    ``maxpool``, ``avgpool``
ceil_mode 0), GlobalAveragePool
Flatten (axis 1), Reshape to N x -1  ``flatten``
BatchNormalization                   ``batchnorm`` (gamma, beta, mean, var, epsilon)
Add of two tensors                   ``add`` (a residual connection)
Add of a constant after Conv/Gemm    folded into that layer's bias
Clip(0, 1) -> Mul(c) -> Round ->     ``quantize`` with ``bits = log2(c + 1)`` (DoReFa,
Div(c) (or Mul(1 / c)),              the activation quantizer of docs/workloads.md)
c = 2^K - 1
Identity, Dropout                    nothing (the tensor passes through)
===================================  ===============================================

Any other node, or a supported one with attributes archsim's op does not have, is a
:class:`~archsim.config.errors.ConfigError` naming the ONNX file, the node (index, name,
op type) and what would be accepted; ``archsim import-onnx`` exits 2 with it. Semantics to
know: ONNX ``Sign(0) = 0`` where the workload's ``sign`` gives +1; the float reference of the
imported workload (``archsim.workload.reference_forward``) computes the graph in float64.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archsim.config.errors import ConfigError

__all__ = ["SUPPORTED_NODES", "ImportedModel", "import_onnx"]

#: ONNX op types the importer reads (module docstring).
SUPPORTED_NODES = ("Conv", "Gemm", "MatMul", "Relu", "Tanh", "Sign", "MaxPool", "AveragePool",
                   "GlobalAveragePool", "Flatten", "Reshape", "BatchNormalization", "Add",
                   "Clip", "Mul", "Round", "Div", "Identity", "Dropout")


@dataclass
class ImportedModel:
    """An ONNX graph as a workload: ``workload`` is the workload file's content (its
    ``model.weights`` left for :meth:`save` to fill), ``arrays`` the model arrays
    (``<op>_w``, ``<op>_b``, ``<op>_gamma`` ...)."""

    workload: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    @property
    def name(self) -> str:
        return str(self.workload["name"])

    def save(self, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write ``<folder>/<name>.yaml`` and ``<folder>/<name>.npz`` (the YAML names the
        .npz relative to itself); returns both paths."""
        import yaml

        from archsim.outputs.atomic import write_text
        from archsim.workload.weights import save_weights

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        npz = save_weights(out / f"{self.name}.npz", self.arrays,
                           {"imported_from": self.source})
        doc = {**self.workload, "model": {**self.workload.get("model", {}),
                                          "weights": npz.name}}
        text = (f"# imported from {Path(self.source).name} by archsim import-onnx\n"
                + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100))
        return write_text(out / f"{self.name}.yaml", text), npz

    def load(self, folder: str | os.PathLike[str]) -> tuple[Any, Any]:
        """:meth:`save` into ``folder``, then the validated ``(Workload, WorkloadWeights)``."""
        from archsim.workload import load_weights, load_workload

        yaml_path, _ = self.save(folder)
        wl = load_workload(yaml_path)
        return wl, load_weights(wl)


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _safe_name(text: str, used: set[str]) -> str:
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in text).strip("_") or "op"
    if base[0].isdigit():
        base = f"op_{base}"
    if base == "input":
        base = "input_op"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


class _Importer:
    def __init__(self, model: Any, label: str) -> None:
        from onnx import numpy_helper

        self.label = label
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        for n in self.graph.node:  # Constant nodes anywhere in the graph: known up front
            if n.op_type == "Constant":
                a = _attrs(n)
                self.consts[n.output[0]] = (
                    numpy_helper.to_array(a["value"]) if "value" in a
                    else np.asarray(a.get("value_float", a.get("value_int", 0))))
        self.ops: list[dict[str, Any]] = []
        self.arrays: dict[str, np.ndarray] = {}
        self.used: set[str] = set()
        self.tensor: dict[str, str] = {}  # ONNX tensor -> archsim op name ("input")
        self.shape: dict[str, tuple[int, ...]] = {}  # ONNX tensor -> per-image shape
        self.by_name: dict[str, dict[str, Any]] = {}
        self.consumers: dict[str, list[int]] = {}
        for i, n in enumerate(self.graph.node):
            for t in n.input:
                self.consumers.setdefault(t, []).append(i)
        self.skip: set[int] = set()
        self.counters: dict[str, int] = {}

    # -------------------------------------------------------------------------- errors
    def error(self, i: int, node: Any, expected: str) -> ConfigError:
        return ConfigError(self.label, f"graph.node[{i}]",
                           f"{node.name or '(unnamed)'} ({node.op_type})", expected)

    def unsupported(self, i: int, node: Any) -> ConfigError:
        return self.error(i, node, "a node archsim imports: " + ", ".join(
            n for n in SUPPORTED_NODES if n not in ("Mul", "Round", "Div", "Clip"))
            + ", or the quantizer Clip(0, 1) -> Mul(2^K - 1) -> Round -> Div(2^K - 1)")

    # -------------------------------------------------------------------------- helpers
    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name)

    def data_inputs(self, node: Any) -> list[str]:
        return [t for t in node.input if t and t not in self.consts]

    def op_name(self, node: Any, kind: str) -> str:
        """The node's own name when it has one (``/fc1/Gemm`` -> ``fc1``), else the op
        kind numbered (``fc1``, ``conv2``, ``act3``...)."""
        parts = [p for p in str(node.name).split("/") if p]
        if len(parts) > 1:
            parts = parts[:-1]  # torch names nodes <module path>/<op type>
        base = "_".join(parts)
        if base and not base.replace("_", "").isdigit() and base != node.op_type:
            return _safe_name(base, self.used)
        prefix = {"conv2d": "conv", "dense": "fc"}.get(kind, kind)
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return _safe_name(f"{prefix}{self.counters[prefix]}", self.used)

    def emit(self, node: Any, op: dict[str, Any], x: str, out: str,
             shape: tuple[int, ...]) -> dict[str, Any]:
        name = self.op_name(node, op["op"])
        entry = {"name": name, **op}
        if self.tensor[x] != (self.ops[-1]["name"] if self.ops else "input"):
            entry["input"] = self.tensor[x]
        self.ops.append(entry)
        self.by_name[name] = entry
        self.tensor[out] = name
        self.shape[out] = shape
        return entry

    def alias(self, src: str, out: str) -> None:
        self.tensor[out] = self.tensor[src]
        self.shape[out] = self.shape[src]

    # -------------------------------------------------------------------------- the graph
    def run(self, input_shape: tuple[int, ...] | None) -> tuple[int, ...]:
        inputs = [v for v in self.graph.input if v.name not in self.consts]
        if len(inputs) != 1:
            raise ConfigError(self.label, "graph.input", [v.name for v in inputs],
                              "one input tensor (the image batch)")
        x = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in x.type.tensor_type.shape.dim]
        per_image = tuple(int(d) for d in dims[1:] if d is not None)
        if len(per_image) != len(dims) - 1 or len(per_image) not in (1, 3):
            raise ConfigError(self.label, f"graph.input[{x.name}]", dims,
                              "a batch of images N x C x H x W or of vectors N x F, with "
                              "fixed sizes after N")
        self.tensor[x.name] = "input"
        if len(per_image) == 3:
            image = input_shape or per_image
            if int(np.prod(image)) != int(np.prod(per_image)):
                raise ConfigError(self.label, "input_shape", list(image),
                                  f"a shape of {int(np.prod(per_image))} pixels like the "
                                  f"graph input {list(per_image)}")
            self.shape[x.name] = image
        else:
            f = per_image[0]
            image = input_shape or ((1, 28, 28) if f == 784 else (1, 1, f))
            if int(np.prod(image)) != f:
                raise ConfigError(self.label, "input_shape", list(image),
                                  f"C x H x W with {f} pixels (the graph input N x {f})")
            self.shape[x.name] = image
            self.emit(_Named("flatten"), {"op": "flatten"}, x.name, x.name + "#flat", (f,))
            self.tensor[x.name] = self.tensor.pop(x.name + "#flat")
            self.shape[x.name] = (f,)
        for i, node in enumerate(self.graph.node):
            if i not in self.skip:
                self.node(i, node)
        outputs = list(self.graph.output)
        if len(outputs) != 1 or self.tensor.get(outputs[0].name) != self.ops[-1]["name"]:
            raise ConfigError(self.label, "graph.output", [o.name for o in outputs],
                              "one output, the last node's (the class scores)")
        return image

    def node(self, i: int, node: Any) -> None:
        op_type = node.op_type
        a = _attrs(node)
        if op_type == "Constant":  # read in __init__
            return
        handler = getattr(self, f"_{op_type}", None)
        if handler is None:
            raise self.unsupported(i, node)
        handler(i, node, a)

    # ---------------------------------------------------------------------- weighted ops
    def _Conv(self, i: int, node: Any, a: dict[str, Any]) -> None:
        (x,) = self.data_inputs(node)
        w = self.const(node.input[1])
        if w is None or w.ndim != 4:
            raise self.error(i, node, "a 2-D convolution with constant weights")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.error(i, node, "explicit pads (auto_pad NOTSET)")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.error(i, node, "dilations 1")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if pads[0] != pads[2] or pads[1] != pads[3]:
            raise self.error(i, node, f"symmetric pads (got {pads})")
        f, _, kh, kw = w.shape
        stride = list(a.get("strides", [1, 1]))
        c, h, wd = self.shape[x]
        ho = (h + 2 * pads[0] - kh) // stride[0] + 1
        wo = (wd + 2 * pads[1] - kw) // stride[1] + 1
        has_b = len(node.input) > 2 and bool(node.input[2])
        e = self.emit(node, {"op": "conv2d", "out_channels": int(f), "kernel": [kh, kw],
                             "stride": stride, "padding": pads[:2],
                             "groups": int(a.get("group", 1)), "bias": has_b},
                      x, node.output[0], (int(f), ho, wo))
        self.arrays[f"{e['name']}_w"] = w
        if has_b:
            b = self.const(node.input[2])
            if b is None:
                raise self.error(i, node, "a constant bias")
            self.arrays[f"{e['name']}_b"] = b

    def _dense(self, node: Any, x: str, w: np.ndarray, b: np.ndarray | None) -> None:
        e = self.emit(node, {"op": "dense", "outputs": int(w.shape[0]), "bias": b is not None},
                      x, node.output[0], (int(w.shape[0]),))
        self.arrays[f"{e['name']}_w"] = w
        if b is not None:
            self.arrays[f"{e['name']}_b"] = np.broadcast_to(b, (w.shape[0],)).copy()

    def _Gemm(self, i: int, node: Any, a: dict[str, Any]) -> None:
        (x,) = self.data_inputs(node)
        b_mat = self.const(node.input[1])
        if b_mat is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 \
                or a.get("beta", 1.0) != 1.0:
            raise self.error(i, node, "Gemm with a constant B, transA 0, alpha = beta = 1")
        w = b_mat if a.get("transB", 0) else b_mat.T
        bias = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        self._need_flat(i, node, x)
        self._dense(node, x, w, bias)

    def _MatMul(self, i: int, node: Any, a: dict[str, Any]) -> None:
        (x,) = self.data_inputs(node)
        w = self.const(node.input[1])
        if w is None or w.ndim != 2:
            raise self.error(i, node, "MatMul of the activations by a constant matrix")
        self._need_flat(i, node, x)
        self._dense(node, x, w.T, None)

    def _need_flat(self, i: int, node: Any, x: str) -> None:
        if len(self.shape[x]) != 1:
            raise self.error(i, node, f"a flat input (put a Flatten before it; the input is "
                             f"{self.shape[x]})")

    # ------------------------------------------------------------------ element-wise ops
    def _simple(self, node: Any, kind: str, **keys: Any) -> None:
        (x,) = self.data_inputs(node)
        self.emit(node, {"op": kind, **keys}, x, node.output[0], self.shape[x])

    def _Relu(self, i: int, node: Any, a: dict[str, Any]) -> None:
        self._simple(node, "relu")

    def _Tanh(self, i: int, node: Any, a: dict[str, Any]) -> None:
        self._simple(node, "btanh", s=1.0)

    def _Sign(self, i: int, node: Any, a: dict[str, Any]) -> None:
        self._simple(node, "sign")

    def _Identity(self, i: int, node: Any, a: dict[str, Any]) -> None:
        self.alias(self.data_inputs(node)[0], node.output[0])

    _Dropout = _Identity

    def _BatchNormalization(self, i: int, node: Any, a: dict[str, Any]) -> None:
        x = node.input[0]
        params = [self.const(t) for t in node.input[1:5]]
        if any(p is None for p in params) or a.get("training_mode", 0):
            raise self.error(i, node, "inference batch norm with constant scale, B, mean, var")
        e = self.emit(node, {"op": "batchnorm", "eps": float(a.get("epsilon", 1e-5))}, x,
                      node.output[0], self.shape[x])
        for key, p in zip(("gamma", "beta", "mean", "var"), params, strict=True):
            self.arrays[f"{e['name']}_{key}"] = np.asarray(p)

    def _Add(self, i: int, node: Any, a: dict[str, Any]) -> None:
        data = self.data_inputs(node)
        if len(data) == 2:
            x, other = data
            if self.shape[x] != self.shape[other]:
                raise self.error(i, node, "two inputs of the same shape")
            self.emit(node, {"op": "add", "other": self.tensor[other]}, x, node.output[0],
                      self.shape[x])
            return
        (x,) = data
        c = next(self.consts[t] for t in node.input if t in self.consts)
        prev = self.by_name.get(self.tensor[x])
        if prev is None or prev["op"] not in ("dense", "conv2d") or prev["bias"] \
                or len(self.consumers.get(x, [])) != 1:
            raise self.error(i, node, "an Add of a constant only right after a Conv, Gemm or "
                             "MatMul without bias (it becomes the bias)")
        n = prev["outputs"] if prev["op"] == "dense" else prev["out_channels"]
        vec = np.asarray(c, dtype=np.float64)
        if prev["op"] == "conv2d":
            vec = vec.reshape(-1) if vec.size == n else vec
        if vec.size != n:
            raise self.error(i, node, f"a bias of {n} values")
        prev["bias"] = True
        self.arrays[f"{prev['name']}_b"] = vec.reshape(n).astype(np.asarray(c).dtype)
        self.alias(x, node.output[0])

    # --------------------------------------------------------------------------- pooling
    def _pool(self, i: int, node: Any, a: dict[str, Any], kind: str) -> None:
        (x,) = self.data_inputs(node)
        if any(a.get("pads", [0])) or a.get("ceil_mode", 0) \
                or any(d != 1 for d in a.get("dilations", [1, 1])) \
                or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise self.error(i, node, "pooling without padding, ceil_mode 0, dilations 1")
        k = list(a["kernel_shape"])
        s = list(a.get("strides", [1, 1]))
        c, h, w = self.shape[x]
        self.emit(node, {"op": kind, "kernel": k, "stride": s}, x, node.output[0],
                  (c, (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1))

    def _MaxPool(self, i: int, node: Any, a: dict[str, Any]) -> None:
        if len(node.output) > 1 and node.output[1]:
            raise self.error(i, node, "MaxPool without the Indices output")
        self._pool(i, node, a, "maxpool")

    def _AveragePool(self, i: int, node: Any, a: dict[str, Any]) -> None:
        self._pool(i, node, a, "avgpool")

    def _GlobalAveragePool(self, i: int, node: Any, a: dict[str, Any]) -> None:
        (x,) = self.data_inputs(node)
        c, h, w = self.shape[x]
        self.emit(node, {"op": "avgpool", "kernel": [h, w]}, x, node.output[0], (c, 1, 1))

    # --------------------------------------------------------------------------- shapes
    def _Flatten(self, i: int, node: Any, a: dict[str, Any]) -> None:
        (x,) = self.data_inputs(node)
        if a.get("axis", 1) != 1:
            raise self.error(i, node, "Flatten with axis 1")
        self._flatten(node, x)

    def _flatten(self, node: Any, x: str) -> None:
        if len(self.shape[x]) == 1:
            self.alias(x, node.output[0])
        else:
            self.emit(node, {"op": "flatten"}, x, node.output[0],
                      (int(np.prod(self.shape[x])),))

    def _Reshape(self, i: int, node: Any, a: dict[str, Any]) -> None:
        x = node.input[0]
        target = self.const(node.input[1])
        n = int(np.prod(self.shape[x]))
        if target is None or target.ndim != 1 or len(target) != 2 \
                or int(target[1]) not in (-1, n) or int(target[0]) not in (-1, 0, 1):
            raise self.error(i, node, "a Reshape to N x -1 (a flatten)")
        self._flatten(node, x)

    # ------------------------------------------------------------------------ quantizer
    def _follow(self, tensor: str, op_type: str) -> tuple[int, Any] | None:
        users = self.consumers.get(tensor, [])
        if len(users) != 1:
            return None
        node = self.graph.node[users[0]]
        return (users[0], node) if node.op_type == op_type else None

    def _clip_bounds(self, node: Any, a: dict[str, Any]) -> tuple[float | None, float | None]:
        if "min" in a or "max" in a:  # opset < 11
            return a.get("min"), a.get("max")
        lo = self.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        hi = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return (None if lo is None else float(lo)), (None if hi is None else float(hi))

    def _Clip(self, i: int, node: Any, a: dict[str, Any]) -> None:
        lo, hi = self._clip_bounds(node, a)
        mul = self._follow(node.output[0], "Mul")
        rnd = mul and self._follow(mul[1].output[0], "Round")
        last = rnd and (self._follow(rnd[1].output[0], "Div")
                        or self._follow(rnd[1].output[0], "Mul"))
        if lo != 0.0 or hi != 1.0 or not (mul and rnd and last):
            raise self.error(i, node, "Clip(0, 1) -> Mul(2^K - 1) -> Round -> Div(2^K - 1), "
                             "the DoReFa activation quantizer")
        scale = self._scalar(mul[1])
        final = self._scalar(last[1])
        if final is not None and last[1].op_type == "Mul":
            final = 1.0 / final if final else None
        bits = math.log2(scale + 1) if scale is not None and scale > 0 else -1.0
        if scale is None or final is None or not bits.is_integer() \
                or not 1 <= bits <= 16 or not math.isclose(final, scale, rel_tol=1e-6):
            raise self.error(i, node, f"a quantizer scale 2^K - 1 with K in 1..16 applied "
                             f"and removed again (got {scale} and {final})")
        self.skip.update((mul[0], rnd[0], last[0]))
        (x,) = self.data_inputs(node)
        self.emit(node, {"op": "quantize", "bits": int(bits)}, x, last[1].output[0],
                  self.shape[x])

    def _scalar(self, node: Any) -> float | None:
        vals = [self.consts[t] for t in node.input if t in self.consts]
        if len(vals) != 1 or np.asarray(vals[0]).size != 1:
            return None
        return float(np.asarray(vals[0]).ravel()[0])

    def _Mul(self, i: int, node: Any, a: dict[str, Any]) -> None:
        raise self.error(i, node, "a Mul only inside the quantizer Clip(0, 1) -> Mul -> Round "
                         "-> Div")

    _Round = _Div = _Mul


class _Named:
    """A stand-in node for ops the importer adds (the leading flatten of a flat input)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.op_type = ""


def import_onnx(path: str | os.PathLike[str], *, name: str | None = None,
                mapping: str = "unipolar", dataset: Mapping[str, Any] | None = None,
                input_shape: tuple[int, ...] | None = None,
                clip: float | None = None) -> ImportedModel:
    """Read an ONNX model as a workload (module docstring).

    ``mapping``: how pixels 0..255 became the graph's input when the model was trained
    (``unipolar`` x = p / 255, ``bipolar`` 2p / 255 - 1, ``raw`` p); ``dataset``: the
    workload's data set section (default ``{name: random}``); ``input_shape``: the image
    shape (C, H, W) when the graph takes flat vectors (default 1 x 28 x 28 for 784 inputs);
    ``clip``: the workload's ``model.clip`` (1.0 for stochastic-computing fabrics).
    Raises ``ConfigError`` (file = the ONNX file) naming an unsupported node.
    """
    try:
        import onnx
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ConfigError(os.fspath(path), "", os.fspath(path),
                          "the onnx package: pip install 'archsim[onnx]'") from None
    label = os.fspath(path)
    if not Path(label).is_file():
        raise ConfigError(label, "", label, "an existing .onnx file")
    try:
        model = onnx.load(label)
    except Exception as e:  # noqa: BLE001 - any parse failure is bad input
        raise ConfigError(label, "", Path(label).name, f"an ONNX model ({e})") from None
    imp = _Importer(model, label)
    shape = imp.run(tuple(input_shape) if input_shape else None)
    model_section: dict[str, Any] = {}
    if clip is not None:
        model_section["clip"] = float(clip)
    wl = {"name": name or _safe_name(Path(label).stem, set()),
          "description": f"imported from ONNX ({Path(label).name})",
          "input": {"shape": list(shape), "mapping": mapping},
          "dataset": dict(dataset) if dataset else {"name": "random"},
          "model": model_section,
          "ops": imp.ops}
    arrays = {k: np.asarray(v, dtype=np.float64) if np.asarray(v).dtype.kind == "f" else v
              for k, v in imp.arrays.items()}
    return ImportedModel(wl, arrays, label)
