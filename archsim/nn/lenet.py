"""Float reference of the stochastic-computing LeNet-5 of DW-CNN (784-11520-2880-3200-800-500-10).

It computes, in ordinary floating point, what the SC datapath approximates with bipolar
streams, so that SC results can be compared against it layer by layer:

* input pixel p in 0..255 becomes the bipolar value x = 2 p / 255 - 1 in [-1, 1];
* conv1: 20 filters 5x5 (valid, stride 1) + bias -- XNOR multipliers and an APC inner product;
* 2x2 max pooling of the *pre-activations* (the SC segment max pooling sits before Btanh);
* tanh(z / s) -- the Btanh up/down counter, with a per-layer gain s;
* conv2: 50 filters 5x5x20, likewise; flatten in (C, H, W) order (800 values);
* fc1: 500 neurons + bias, tanh(z / s); fc2: 10 neurons + bias = logits (no activation);
* prediction = argmax of the logits (the hardware decodes the largest output).

Weights and biases are bipolar stochastic numbers, so they are kept in [-1, 1] (clipped on load).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archsim.workload.models import BUILTIN_MODELS, builtin_model_path

__all__ = [
    "ACTIVATION_LAYERS",
    "BUILTIN_MODELS",
    "LAYER_SHAPES",
    "LeNet5Weights",
    "accuracy",
    "builtin_model_path",
    "forward",
    "load_weights",
    "pixels_to_bipolar",
    "predict",
    "random_weights",
    "save_weights",
]

#: Parameter name -> shape.
LAYER_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1_w": (20, 1, 5, 5),
    "conv1_b": (20,),
    "conv2_w": (50, 20, 5, 5),
    "conv2_b": (50,),
    "fc1_w": (500, 800),
    "fc1_b": (500,),
    "fc2_w": (10, 500),
    "fc2_b": (10,),
}
#: Layers followed by a (B)tanh activation, each with its own gain s.
ACTIVATION_LAYERS: tuple[str, ...] = ("conv1", "conv2", "fc1")


def _default_s() -> dict[str, float]:
    return dict.fromkeys(ACTIVATION_LAYERS, 1.0)


@dataclass
class LeNet5Weights:
    """Parameters of the SC LeNet-5: weights and biases in [-1, 1], per-layer tanh gain s."""

    conv1_w: np.ndarray
    conv1_b: np.ndarray
    conv2_w: np.ndarray
    conv2_b: np.ndarray
    fc1_w: np.ndarray
    fc1_b: np.ndarray
    fc2_w: np.ndarray
    fc2_b: np.ndarray
    s: dict[str, float] = field(default_factory=_default_s)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, shape in LAYER_SHAPES.items():
            arr = np.asarray(getattr(self, name))
            if arr.shape != shape:
                raise ValueError(f"{name} shape {arr.shape} must be {shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} holds non-finite values")
            setattr(self, name, arr)
        s = _default_s()
        s.update({k: float(v) for k, v in self.s.items()})
        unknown = set(s) - set(ACTIVATION_LAYERS)
        if unknown:
            raise ValueError(f"s keys {sorted(unknown)} must be among {ACTIVATION_LAYERS}")
        for layer, gain in s.items():
            if not gain > 0:
                raise ValueError(f"s[{layer!r}](={gain}) must be > 0")
        self.s = s

    def arrays(self) -> dict[str, np.ndarray]:
        """Parameter name -> array, in :data:`LAYER_SHAPES` order."""
        return {name: getattr(self, name) for name in LAYER_SHAPES}

    def clipped(self) -> LeNet5Weights:
        """A copy with every weight and bias clipped to the bipolar range [-1, 1]."""
        arrays = {k: np.clip(v, -1.0, 1.0) for k, v in self.arrays().items()}
        return LeNet5Weights(**arrays, s=dict(self.s), metadata=dict(self.metadata))


def random_weights(seed: int = 0) -> LeNet5Weights:
    """Random weights in [-1, 1], uniform with fan-in scaling (for tests and smoke runs)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in LAYER_SHAPES.items():
        fan_in = int(np.prod(LAYER_SHAPES[name[:-1] + "w"][1:]))
        bound = min(1.0, np.sqrt(3.0 / fan_in))
        arrays[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return LeNet5Weights(**arrays, metadata={"source": f"random_weights(seed={seed})"})


def save_weights(weights: LeNet5Weights, path: str | os.PathLike[str]) -> Path:
    """Write weights as a compressed .npz: float32 arrays, ``s_<layer>`` and JSON metadata."""
    path = Path(path)
    payload: dict[str, np.ndarray] = {
        k: np.asarray(v, dtype=np.float32) for k, v in weights.arrays().items()
    }
    for layer, gain in weights.s.items():
        payload[f"s_{layer}"] = np.array(gain, dtype=np.float64)
    payload["metadata"] = np.array(json.dumps(weights.metadata, sort_keys=True, default=str))
    with path.open("wb") as fh:
        np.savez_compressed(fh, **payload)
    return path


def load_weights(path_or_builtin: str | os.PathLike[str]) -> LeNet5Weights:
    """Load weights from an .npz path or a built-in name ("lenet5_mnist", "lenet5_fashion").

    Weights and biases are clipped to [-1, 1]; ``metadata["clipped_on_load"]`` counts the
    values that were outside.
    """
    key = str(path_or_builtin).removeprefix("builtin:")
    path = builtin_model_path(key) if key in BUILTIN_MODELS else Path(path_or_builtin)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in LAYER_SHAPES if k not in npz.files]
        if missing:
            raise ValueError(f"{path}: missing arrays {missing}")
        arrays = {k: np.asarray(npz[k], dtype=np.float32) for k in LAYER_SHAPES}
        s = {layer: float(npz[f"s_{layer}"]) for layer in ACTIVATION_LAYERS if f"s_{layer}" in npz}
        metadata = json.loads(str(npz["metadata"])) if "metadata" in npz.files else {}
    outside = int(sum(np.count_nonzero(np.abs(a) > 1.0) for a in arrays.values()))
    metadata["clipped_on_load"] = outside
    metadata.setdefault("path", str(path))
    weights = LeNet5Weights(**arrays, s=s, metadata=metadata)
    return weights.clipped()


def pixels_to_bipolar(images_uint8: np.ndarray) -> np.ndarray:
    """Pixels 0..255 -> bipolar values 2 p / 255 - 1, shape ``(N, 1, 28, 28)`` float64."""
    x = np.asarray(images_uint8)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1:] != (1, 28, 28):
        raise ValueError(f"images shape {np.shape(images_uint8)} must be (N, 28, 28)")
    return x.astype(np.float64) * (2.0 / 255.0) - 1.0


def _workload(s: dict[str, float]) -> Any:
    """The SC LeNet-5 workload with the tanh gains ``s`` (cached per gains)."""
    key = tuple(sorted(s.items()))
    hit = _WORKLOADS.get(key)
    if hit is None:
        from archsim.workload import workload_from_dict

        ops: list[dict[str, Any]] = [
            {"name": "conv1", "op": "conv2d", "out_channels": 20, "kernel": 5},
            {"name": "pool1", "op": "maxpool", "kernel": 2},
            {"name": "act1", "op": "btanh", "s": s["conv1"]},
            {"name": "conv2", "op": "conv2d", "out_channels": 50, "kernel": 5},
            {"name": "pool2", "op": "maxpool", "kernel": 2},
            {"name": "act2", "op": "btanh", "s": s["conv2"]},
            {"name": "flatten", "op": "flatten"},
            {"name": "fc1", "op": "dense", "outputs": 500},
            {"name": "act3", "op": "btanh", "s": s["fc1"]},
            {"name": "fc2", "op": "dense", "outputs": 10},
        ]
        hit = _WORKLOADS[key] = workload_from_dict(
            {"name": "lenet5", "input": {"shape": [1, 28, 28], "mapping": "raw"},
             "model": {"weights": "random", "clip": 1.0}, "ops": ops}, source="nn.lenet")
    return hit


_WORKLOADS: dict[tuple, Any] = {}


def _forward_batch(weights: LeNet5Weights, x: np.ndarray) -> dict[str, np.ndarray]:
    """One batch of bipolar inputs through the one float reference of archsim
    (``archsim.workload.reference_forward``) on the LeNet-5 workload."""
    from archsim.workload import LayerParams, WorkloadWeights, reference_forward

    wl = _workload(weights.s)
    params = WorkloadWeights(layers={
        name: LayerParams(name, np.asarray(getattr(weights, f"{name}_w"), np.float64),
                          np.asarray(getattr(weights, f"{name}_b"), np.float64))
        for name in ("conv1", "conv2", "fc1", "fc2")})
    outs = dict(zip((op.name for op in wl.ops), reference_forward(wl, params, x), strict=True))
    out: dict[str, np.ndarray] = {"input": x}
    for key in ("conv1", "pool1", "act1", "conv2", "pool2", "act2", "fc1", "act3"):
        out[key] = outs[key]
    out["logits"] = outs["fc2"]
    out["pred"] = np.argmax(out["logits"], axis=1)
    return out


def forward(
    weights: LeNet5Weights,
    images_uint8: np.ndarray,
    batch_size: int = 256,
    keep: tuple[str, ...] | None = None,
) -> dict[str, np.ndarray]:
    """Per-layer outputs of the float reference for images ``(N, 28, 28)`` uint8.

    Keys, in order: ``input`` (N,1,28,28) bipolar; ``conv1`` (N,20,24,24) pre-activation;
    ``pool1`` (N,20,12,12) max of pre-activations; ``act1`` = tanh(pool1/s); ``conv2``
    (N,50,8,8); ``pool2`` (N,50,4,4); ``act2``; ``fc1`` (N,500); ``act3``; ``logits`` (N,10);
    ``pred`` (N,) argmax. ``keep`` limits the returned keys (to save memory on big batches).
    Batches of ``batch_size`` images bound the im2col memory.
    """
    x = pixels_to_bipolar(images_uint8)
    parts: dict[str, list[np.ndarray]] = {}
    for lo in range(0, max(len(x), 1), batch_size):
        res = _forward_batch(weights, x[lo : lo + batch_size])
        for key, val in res.items():
            if keep is None or key in keep:
                parts.setdefault(key, []).append(val)
    return {key: np.concatenate(vals) for key, vals in parts.items()}


def predict(weights: LeNet5Weights, images_uint8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted classes (argmax of the logits), shape ``(N,)``."""
    return forward(weights, images_uint8, batch_size=batch_size, keep=("pred",))["pred"]


def accuracy(weights: LeNet5Weights, images_uint8: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose predicted class equals the label."""
    pred = predict(weights, images_uint8)
    return float(np.mean(pred == np.asarray(labels)))
