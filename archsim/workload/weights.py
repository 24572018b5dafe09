"""The one weights loader: a workload's model section -> checked, immutable arrays.

:func:`load_weights` reads the source named by ``model.weights``:

* ``random``: seeded random weights, drawn exactly as
  ``archsim.fabrics.sc_stream.network.random_weights``
  draws them (so designs with random weights keep their numbers): one generator seeded with
  ``derive_seed(seed, "random-weights")``; per weighted op in order, ``w ~ N(0, 2 /
  sqrt(counter_inputs))`` (``counter_inputs`` = fan_in + 1 with a bias) clipped to [-1, 1],
  then ``b ~ N(0, 0.1)`` clipped to [-1, 1]; batchnorm ops get gamma 1, beta 0, mean 0,
  var 1;
* ``builtin:<name>``: a model of :data:`archsim.workload.models.BUILTIN_MODELS`;
* a path to an ``.npz``, laid out as below.

**The .npz layout** (any network; ``<op>`` is an op name of the workload):

==================  ==========================================  ==============================
array               shape                                       for
==================  ==========================================  ==============================
``<op>_w``          ``op.weight_shape``: conv2d ``(F, C/groups,  every conv2d / dense op
                    kh, kw)``, dense ``(outputs, inputs)``
``<op>_b``          ``(F,)`` / ``(outputs,)``                   ops with ``bias: true``
``<op>_wbits``      uint8 ``(ceil(n / 8),)``, n = the weight     instead of ``<op>_w``: +-1
                    count                                       weights as packed sign bits
``<op>_mask``       ``op.weight_shape``, bool or 0/1            optional pruning mask
``<op>_gamma``,     ``(C,)``, C = channels of the op's input    every batchnorm op
``<op>_beta``,
``<op>_mean``,
``<op>_var``
``s_<op>``          scalar > 0                                  optional: the tanh gain the
                                                                model was trained with, for
                                                                the btanh op of ``<op>``'s
                                                                stage (must equal its ``s``)
``metadata``        scalar string, a JSON object                optional: provenance
==================  ==========================================  ==============================

Arrays are real numbers (float or integer; masks may be bool), finite; object and string
arrays are refused (files are read with ``allow_pickle=False``); an array the workload does
not use is an error, and so is a missing or misshapen one. ``<op>_wbits`` stores a binarized
layer in one bit per weight (:func:`pack_sign_bits`; ``numpy.packbits`` of the C-order weights,
bit 1 = +1, 0 = -1, the last byte padded with zero bits) and loads as the float +-1 weights;
giving it and ``<op>_w`` is an error. Every problem is a
:class:`~archsim.config.errors.ConfigError` whose file is the ``.npz`` and whose key path is
the array's key (``conv1_w: got (20, 1, 3, 3); expected (20, 1, 5, 5), ...``).

After reading, in this order: weights and biases are clipped to ``[-clip, clip]`` when
``model.clip`` is set (the count of values that were outside is kept in ``clipped``); the
mask (from the file, from ``model.layers.<op>.mask`` or by ``sparsity``) zeroes the pruned
weights; ``bits`` quantizes the weights (:func:`archsim.workload.quantize.quantize_weights`):
``w`` then holds ``codes * step`` and ``codes``/``step`` are kept for fixed-point use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from archsim.config.errors import MISSING, ConfigError
from archsim.config.loader import display_path as _display
from archsim.seeds import derive_seed
from archsim.workload.batchnorm import BatchNormParams
from archsim.workload.models import builtin_model_path
from archsim.workload.npz import read_npz
from archsim.workload.ops import BatchNorm, Btanh, Op, WeightedOp
from archsim.workload.quantize import dequantize_weights, quantize_weights
from archsim.workload.workload import Workload

__all__ = ["LayerParams", "WorkloadWeights", "load_weights", "numeric_array", "pack_sign_bits",
           "random_weights", "read_metadata", "save_weights", "unpack_sign_bits"]

_BN_KEYS = ("gamma", "beta", "mean", "var")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class LayerParams:
    """The parameters of one weighted op, ready to compute with.

    ``w`` (float64, ``op.weight_shape``) is what the op multiplies: clipped, masked and
    quantized as the model section says. ``b`` (float64) or None without a bias. ``mask``
    (bool, True = kept) or None when nothing is pruned. ``bits``/``codes``/``step``: the
    weight quantization (``w == codes * step``), None for float weights. Arrays are
    read-only.
    """

    name: str
    w: np.ndarray
    b: np.ndarray | None = None
    mask: np.ndarray | None = None
    bits: int | None = None
    codes: np.ndarray | None = None
    step: float | None = None

    @property
    def sparsity(self) -> float:
        """Fraction of pruned weights (0 without a mask)."""
        return 0.0 if self.mask is None else 1.0 - float(self.mask.mean())


@dataclass(frozen=True)
class WorkloadWeights:
    """All parameters of a workload: ``layers`` (weighted op name -> :class:`LayerParams`),
    ``batchnorm`` (batchnorm op name -> :class:`BatchNormParams`), where they came from
    (``source``: ``random (seed 1)``, ``builtin:<name>`` or the path; ``path`` of the file),
    the file's ``metadata`` and ``clipped``, the number of weight and bias values that were
    outside ``[-clip, clip]`` before clipping."""

    layers: Mapping[str, LayerParams]
    batchnorm: Mapping[str, BatchNormParams] = field(
        default_factory=lambda: MappingProxyType({}))
    source: str = ""
    path: Path | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    clipped: int = 0

    def __getitem__(self, name: str) -> LayerParams:
        return self.layers[name]

    def float_weights(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{op name: (w, b)}`` float64, a zero bias for ops without one: the form
        the SC fabric (``archsim.fabrics.sc_stream.network``) takes."""
        return {name: (p.w, p.b if p.b is not None else np.zeros(p.w.shape[0]))
                for name, p in self.layers.items()}


def _describe(op: Op, workload: Workload) -> str:
    where = workload.origin("ops", op.index)
    return f"{op.key} {op.name!r} ({op.kind}) of {where}"


# --------------------------------------------------------------------------------------------
# reading an .npz
# --------------------------------------------------------------------------------------------


def _read_npz(path: Path, label: str, key_path: str, owner: str) -> dict[str, np.ndarray]:
    """Every array of an .npz, each checked before it is read (:mod:`archsim.workload.npz`)."""
    return read_npz(path, label, owner, key_path)


def numeric_array(label: str, key: str, a: np.ndarray, allow_bool: bool = False) -> np.ndarray:
    kinds = "fiub" if allow_bool else "fiu"
    if a.dtype.kind not in kinds:
        raise ConfigError(label, key, f"an array of dtype {a.dtype}",
                          "a real numeric array (float or integer"
                          f"{', or bool' if allow_bool else ''})")
    out = a.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(label, key, f"{out[where]} at index {where}",
                          "finite numbers (no NaN or infinity)")
    return out


def _shaped(label: str, key: str, a: np.ndarray, shape: tuple[int, ...], what: str) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ConfigError(label, key, tuple(a.shape), f"shape {tuple(shape)}, {what}")


def read_metadata(label: str, a: np.ndarray) -> dict[str, Any]:
    if a.ndim != 0 or a.dtype.kind not in "US":
        raise ConfigError(label, "metadata", f"an array of dtype {a.dtype} and shape {a.shape}",
                          "a scalar string holding a JSON object")
    try:
        meta = json.loads(str(a))
    except json.JSONDecodeError as exc:
        raise ConfigError(label, "metadata", str(a)[:40], f"a JSON object ({exc})") from None
    if not isinstance(meta, dict):
        raise ConfigError(label, "metadata", meta, "a JSON object")
    return meta


def _expected_keys(workload: Workload) -> dict[str, tuple[Op, str]]:
    out: dict[str, tuple[Op, str]] = {}
    for op in workload.ops:
        if isinstance(op, WeightedOp):
            out[f"{op.name}_w"] = (op, "w")
            out[f"{op.name}_wbits"] = (op, "wbits")
            out[f"{op.name}_mask"] = (op, "mask")
            out[f"{op.name}_b"] = (op, "b")
            out[f"s_{op.name}"] = (op, "s")
        elif isinstance(op, BatchNorm):
            for k in _BN_KEYS:
                out[f"{op.name}_{k}"] = (op, k)
    return out


def _from_file(workload: Workload, path: Path, source: str) -> tuple[
        dict[str, np.ndarray], dict[str, np.ndarray], dict[str, BatchNormParams],
        dict[str, Any]]:
    """Weights, biases, masks and batchnorm parameters read from ``path``, checked."""
    label = _display(path)
    owner = workload.origin("model", "weights")
    arrays = _read_npz(path, label, "model.weights", owner)
    meta = read_metadata(label, arrays.pop("metadata")) if "metadata" in arrays else {}
    expected = _expected_keys(workload)
    for key, a in arrays.items():
        if key not in expected:
            known = sorted(expected)
            raise ConfigError(label, key, f"an array of shape {tuple(a.shape)}",
                              "only arrays the workload uses: " + ", ".join(known)
                              + " and metadata (docs/workloads.md, the .npz layout)")
        op, kind = expected[key]
        if kind == "b" and isinstance(op, WeightedOp) and not op.bias:
            raise ConfigError(label, key, f"an array of shape {tuple(a.shape)}",
                              f"no bias array: {_describe(op, workload)} has bias: false")
    weights: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    bn: dict[str, BatchNormParams] = {}
    names = ", ".join(sorted(arrays)) or "none"
    for op in workload.ops:
        if isinstance(op, WeightedOp):
            wanted = [("w", op.weight_shape)]
            if op.bias_shape is not None:
                wanted.append(("b", op.bias_shape))
            for kind, shape in wanted:
                key = f"{op.name}_{kind}"
                what = ("the weight shape" if kind == "w" else "the bias shape") + \
                    f" of {_describe(op, workload)}"
                if kind == "w" and f"{op.name}_wbits" in arrays:
                    weights[key] = _sign_bits(label, op, workload, arrays, key)
                    continue
                if key not in arrays:
                    raise ConfigError(label, key, MISSING,
                                      f"an array of shape {shape}, {what} (the file has: "
                                      f"{names})")
                a = numeric_array(label, key, arrays[key])
                _shaped(label, key, a, shape, what)
                weights[key] = a
            key = f"{op.name}_mask"
            if key in arrays:
                masks[op.name] = _mask(label, key, arrays[key], op, workload)
            key = f"s_{op.name}"
            if key in arrays:
                _check_gain(label, key, arrays[key], op, workload)
        elif isinstance(op, BatchNorm):
            parts = {}
            for k in _BN_KEYS:
                key = f"{op.name}_{k}"
                what = f"one value per channel of {_describe(op, workload)}"
                if key not in arrays:
                    raise ConfigError(label, key, MISSING,
                                      f"an array of shape ({op.channels},), {what} (the file "
                                      f"has: {names})")
                a = numeric_array(label, key, arrays[key])
                _shaped(label, key, a, (op.channels,), what)
                parts[k] = a
            if (parts["var"] < 0).any():
                i = int(np.argmax(parts["var"] < 0))
                raise ConfigError(label, f"{op.name}_var", float(parts["var"][i]),
                                  f"variances >= 0 (channel {i})")
            bn[op.name] = BatchNormParams(**parts, eps=op.eps)
    meta.setdefault("source", source)
    return weights, masks, bn, meta


def _sign_bits(label: str, op: WeightedOp, workload: Workload, arrays: dict[str, np.ndarray],
               w_key: str) -> np.ndarray:
    """The +-1 weights of ``op`` from its packed sign bits ``<op>_wbits``, checked."""
    key = f"{op.name}_wbits"
    if w_key in arrays:
        raise ConfigError(label, key, "an array beside " + w_key,
                          f"either {w_key} or {key}, not both")
    a = arrays[key]
    n = int(np.prod(op.weight_shape))
    want = (n + 7) // 8
    if a.dtype != np.uint8:
        raise ConfigError(label, key, f"an array of dtype {a.dtype}",
                          "uint8 packed sign bits (numpy.packbits)")
    _shaped(label, key, a, (want,), f"{n} sign bits packed 8 per byte, the weight shape "
            f"{op.weight_shape} of {_describe(op, workload)}")
    if n % 8 and int(a[-1]) & ((1 << (8 - n % 8)) - 1):
        raise ConfigError(label, key, f"last byte {int(a[-1]):#04x}",
                          f"zero padding bits after the {n} sign bits")
    return unpack_sign_bits(a, op.weight_shape)


def pack_sign_bits(w: np.ndarray) -> np.ndarray:
    """The signs of ``w`` (+1 for ``w >= 0``) packed 8 per byte in C order (``numpy.packbits``,
    big bit order), 1 = +1: the ``<op>_wbits`` array of a binarized layer."""
    return np.packbits((np.asarray(w) >= 0).ravel())


def unpack_sign_bits(bits: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The float64 +-1 weights of ``shape`` from :func:`pack_sign_bits`' bytes."""
    n = int(np.prod(shape))
    b = np.unpackbits(np.asarray(bits, dtype=np.uint8), count=n)
    return np.where(b == 1, 1.0, -1.0).reshape(shape)


def _mask(label: str, key: str, a: np.ndarray, op: WeightedOp, workload: Workload,
          named_by: str = "") -> np.ndarray:
    what = f"the weight shape of {_describe(op, workload)}{named_by}"
    m = numeric_array(label, key, a, allow_bool=True)
    _shaped(label, key, m, op.weight_shape, what)
    if not np.isin(m, (0.0, 1.0)).all():
        bad = m[~np.isin(m, (0.0, 1.0))][0]
        raise ConfigError(label, key, float(bad), "a mask of 0/1 (or bool) values: 1 keeps "
                          "a weight, 0 prunes it")
    if not m.any():
        raise ConfigError(label, key, f"a mask pruning all {m.size} weights",
                          f"a mask keeping at least one weight of {what} (a pruning must not "
                          "leave a layer empty)")
    return m.astype(bool)


def _stage_btanh(op: WeightedOp, workload: Workload) -> Btanh | None:
    for stage in workload.stages():
        if stage.layer.name == op.name:
            for member in stage.ops:
                if isinstance(member, Btanh):
                    return member
    return None


def _check_gain(label: str, key: str, a: np.ndarray, op: WeightedOp,
                workload: Workload) -> None:
    g = numeric_array(label, key, a)
    if g.ndim != 0 or not g > 0:
        raise ConfigError(label, key, g.tolist(), "a positive scalar (a tanh gain s)")
    gain = float(g)
    act = _stage_btanh(op, workload)
    if act is None:
        if gain != 1.0:
            raise ConfigError(label, key, gain,
                              f"1.0: the stage of {_describe(op, workload)} has no btanh op "
                              "for the model's tanh gain")
        return
    if act.s != gain:
        raise ConfigError(workload.origin("ops", act.index, "s"), f"{act.key}.s", act.s,
                          f"{gain}, the gain s the model {label} was trained with ({key})")


# --------------------------------------------------------------------------------------------
# random weights
# --------------------------------------------------------------------------------------------


def random_weights(workload: Workload, seed: int) -> dict[str, np.ndarray]:
    """``{"<op>_w": w, "<op>_b": b}`` drawn as
    ``archsim.fabrics.sc_stream.network.random_weights`` draws them
    (module docstring)."""
    rng = np.random.default_rng(derive_seed(seed, "random-weights"))
    out: dict[str, np.ndarray] = {}
    for op in workload.weighted_ops:
        scale = 2.0 / np.sqrt(op.counter_inputs)
        out[f"{op.name}_w"] = np.clip(rng.normal(0, scale, size=op.weight_shape), -1, 1)
        if op.bias_shape is not None:
            out[f"{op.name}_b"] = np.clip(rng.normal(0, 0.1, size=op.bias_shape), -1, 1)
    return out


def _sparsity_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Magnitude pruning: the ``round(sparsity * w.size)`` weights of smallest |w| (ties in
    index order) are pruned."""
    n = int(round(sparsity * w.size))
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    keep = np.ones(w.size, dtype=bool)
    keep[order[:n]] = False
    return keep.reshape(w.shape)


# --------------------------------------------------------------------------------------------
# the loader
# --------------------------------------------------------------------------------------------


def load_weights(workload: Workload) -> WorkloadWeights:
    """The parameters of ``workload`` from its model section (module docstring); every
    problem is a :class:`ConfigError` naming the file and the key."""
    model = workload.model
    src = model.weights
    path: Path | None = None
    if src == "random":
        raw = random_weights(workload, model.seed)
        masks: dict[str, np.ndarray] = {}
        bn = {op.name: BatchNormParams.neutral(op.channels, op.eps)
              for op in workload.ops if isinstance(op, BatchNorm)}
        meta: dict[str, Any] = {"source": f"random (seed {model.seed})"}
        source = f"random (seed {model.seed})"
    else:
        if src.startswith("builtin:"):
            path = builtin_model_path(src.split(":", 1)[1])
            source = src
        else:
            path = Path(src)
            source = _display(path)
        raw, masks, bn, meta = _from_file(workload, path, source)

    clip = model.clip
    clipped = 0
    layers: dict[str, LayerParams] = {}
    for op in workload.weighted_ops:
        w = raw[f"{op.name}_w"]
        b = raw.get(f"{op.name}_b")
        if clip is not None:
            clipped += int(np.count_nonzero(np.abs(w) > clip))
            w = np.clip(w, -clip, clip)
            if b is not None:
                clipped += int(np.count_nonzero(np.abs(b) > clip))
                b = np.clip(b, -clip, clip)
        meta_l = model.layers.get(op.name)
        mask = masks.get(op.name)
        if meta_l is not None and meta_l.mask is not None:
            mloc = workload.origin("model", "layers", op.name, "mask")
            if mask is not None:
                raise ConfigError(mloc, f"model.layers.{op.name}.mask", str(meta_l.mask),
                                  f"no mask file: the model {source} already holds "
                                  f"{op.name}_mask")
            label = _display(meta_l.mask)
            arrays = _read_npz(meta_l.mask, label, f"model.layers.{op.name}.mask", mloc)
            key = f"{op.name}_mask"
            if key not in arrays:
                raise ConfigError(label, key, MISSING,
                                  f"an array {key} of shape {op.weight_shape} (the file has: "
                                  f"{', '.join(sorted(arrays)) or 'none'})")
            mask = _mask(label, key, arrays[key], op, workload,
                         f" (named by model.layers.{op.name}.mask in {mloc})")
        if meta_l is not None and meta_l.sparsity is not None:
            if mask is not None:
                raise ConfigError(workload.origin("model", "layers", op.name, "sparsity"),
                                  f"model.layers.{op.name}.sparsity", meta_l.sparsity,
                                  f"no sparsity: the model {source} already holds "
                                  f"{op.name}_mask")
            mask = _sparsity_mask(w, meta_l.sparsity)
        if mask is not None:
            w = np.where(mask, w, 0.0)
        bits = meta_l.bits if meta_l is not None else None
        codes = step = None
        if bits is not None:
            codes, step = quantize_weights(w, bits, mask,
                                           meta_l.quantizer if meta_l else "symmetric")
            w = dequantize_weights(codes, step)
        layers[op.name] = LayerParams(
            name=op.name, w=_frozen(w), b=_frozen(b) if b is not None else None,
            mask=_frozen(mask) if mask is not None else None, bits=bits,
            codes=_frozen(codes) if codes is not None else None, step=step)
    frozen_bn = {name: BatchNormParams(gamma=_frozen(p.gamma), beta=_frozen(p.beta),
                                       mean=_frozen(p.mean), var=_frozen(p.var), eps=p.eps)
                 for name, p in bn.items()}
    return WorkloadWeights(layers=MappingProxyType(layers), batchnorm=MappingProxyType(frozen_bn),
                           source=source, path=path, metadata=MappingProxyType(meta),
                           clipped=clipped)


def save_weights(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                 metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``arrays`` (keys as in the layout above) and a JSON ``metadata`` object as a
    compressed .npz that :func:`load_weights` reads."""
    path = Path(path)
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype.kind not in "fiub":
            raise ValueError(f"{k}: dtype {v.dtype} is not a real numeric array")
    if metadata is not None:
        payload["metadata"] = np.array(json.dumps(dict(metadata), sort_keys=True, default=str))
    with path.open("wb") as fh:
        # numpy's stub types **kwds as arrays but also has the keyword allow_pickle: bool,
        # which a dict of arrays could name
        np.savez_compressed(fh, **payload)  # type: ignore[arg-type]
    return path

