"""Train the binarized neural networks of the SC-BNN family and export them for archsim.

The networks are those of the workload files ``bnn_fmnist_mlp.yaml``, ``bnn_mnist_mlp.yaml``
and ``bnn_cifar_vgg.yaml`` (the op names of :data:`ARCHS`): binary weights, binary
activations, batch norm before every sign, the first layer fed with the 8-bit image. They
follow Hirtzlin et al., "Stochastic Computing for Hardware Implementation of Binarized Neural
Networks", IEEE Access 2019, which trains them in two ways (``--input``):

* ``conventional``: the first layer sees the real-valued pixel ``x = p / 255``;
* ``stochastic``: the first layer sees stochastic bits, as the SC-BNN hardware does: each
  pixel lane's comparator SNG gives ``b = [r < p]`` with ``r`` a uniform random number
  0..254 (``P(b = 1) = p / 255``, the BNN fabric's LFSR and ideal sources; ``--sng-levels
  256`` for 0..255, its Sobol source), a fresh sample at every forward pass, and the N
  presentations
  of one image are combined as at inference by first-layer accumulation: the pre-activation
  of layer 1 is the mean over the N presentations of ``sum_i w_ji b_ni``. The layer is linear,
  so that mean is the layer applied to the mean image ``c_i / N``, with ``c_i`` the count of
  ones of pixel i over the N presentations, a Binomial(N, p / 255) number; training draws
  ``c`` directly (one matrix product per batch whatever N).

Training (Courbariaux et al., "Binarized Neural Networks", NeurIPS 2016): the forward pass uses
``sign(w)`` of real-valued latent weights (+1 for 0) and ``sign(x)`` activations, each with the
straight-through estimator (gradient passed where ``|w| <= 1`` / ``|x| <= 1``); the latent
weights are clipped to [-1, 1] after every Adam step; batch norm (eps 1e-5) before every sign
and on the output scores; cross-entropy on the output batch norm. After training, the batch
norm statistics are recomputed with the final binary weights over the training set (inputs
drawn as in training), and the model is exported in the workload .npz layout: ``<op>_wbits``
(the weight signs bit-packed, ``archsim.workload.weights.pack_sign_bits``) and
``<op>_gamma/_beta/_mean/_var``.

The accuracy printed and stored in the metadata is computed by :func:`evaluate` in float64
NumPy with the integer arithmetic of the BNN fabric (the contract between the fabric and this
script, docs/training.md): integer first-layer sums ``a = W p`` (``/ 255``) or ``A = W c``
(``/ N``), exact XNOR-popcount sums in the hidden layers, batch norm in float64, sign (+1 at
0), argmax with ties to the lowest class. It prints the table N x {this model's input mode}
for N = 1, 2, 4, 8, 16, 32 with stochastic inputs (``--eval-n``).

    nice -n 10 python training/train_bnn.py --dataset fashion-mnist --input conventional
    nice -n 10 python training/train_bnn.py --dataset fashion-mnist --input stochastic --n 4
    python training/train_bnn.py --table archsim/models/bnn_fmnist_conv.npz \
        archsim/models/bnn_fmnist_sc_n4.npz          # the accuracy table of shipped models
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim.nn.datasets import load_dataset, resolve_data_dir  # noqa: E402
from archsim.workload.batchnorm import BatchNormParams, batchnorm  # noqa: E402
from archsim.workload.weights import pack_sign_bits, unpack_sign_bits  # noqa: E402

try:  # torch is the optional [train] extra; the NumPy evaluation works without it
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - exercised where torch is absent
    torch = None  # type: ignore[assignment]

#: Stochastic-input presentation counts of the paper's study.
N_VALUES = (1, 2, 4, 8, 16, 32)
BN_EPS = 1e-5
#: Comparator SNG: b = [r < p] with r uniform in 0..SNG_LEVELS-1 (the BNN fabric's LFSR and
#: ideal sources draw 0..254: P(b = 1) = p / 255).
SNG_LEVELS = 255


# ----------------------------------------------------------------------------- architectures


@dataclass(frozen=True)
class Layer:
    """One binarized layer: a ``dense`` (``out``) or ``conv`` (``out`` channels, 3x3, padding
    1) op named ``name``, followed by the batchnorm ``bn`` and, unless it is the last layer, a
    sign; ``pool`` True: a 2x2 max pooling after the sign (an OR of binary activations)."""

    kind: str
    name: str
    bn: str
    out: int
    pool: bool = False


@dataclass(frozen=True)
class Arch:
    """A network: input shape (C, H, W), its layers and the workload file it fits."""

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...]
    workload: str


def _mlp(name: str, hidden: Sequence[int], workload: str) -> Arch:
    sizes = [*hidden, 10]
    return Arch(name, (1, 28, 28),
                tuple(Layer("dense", f"fc{i + 1}", f"bn{i + 1}", n) for i, n in enumerate(sizes)),
                workload)


def _vgg() -> Arch:
    convs = [(128, False), (128, True), (256, False), (256, True), (512, False), (512, True)]
    layers = [Layer("conv", f"conv{i + 1}", f"bn{i + 1}", c, pool)
              for i, (c, pool) in enumerate(convs)]
    layers += [Layer("dense", f"fc{i + 1}", f"bn{i + 7}", n)
               for i, n in enumerate((1024, 1024, 10))]
    return Arch("vgg", (3, 32, 32), tuple(layers), "arch_configs/workloads/bnn_cifar_vgg.yaml")


ARCHS: dict[str, Arch] = {
    "fashion-mnist": _mlp("mlp1024", (1024, 1024),
                          "arch_configs/workloads/bnn_fmnist_mlp.yaml"),
    "mnist": _mlp("mlp1024", (1024, 1024), "arch_configs/workloads/bnn_mnist_mlp.yaml"),
    "cifar10": _vgg(),
}
PREFIX = {"fashion-mnist": "bnn_fmnist", "mnist": "bnn_mnist", "cifar10": "bnn_cifar"}


def workload_dict(dataset: str, hidden: Sequence[int] | None = None) -> dict[str, Any]:
    """The workload of ``dataset``'s network as plain data (what its YAML file holds), for
    ``archsim.workload.workload_from_dict``: the reference forward and tests use it where the
    workload file is not at hand."""
    arch = ARCHS[dataset] if hidden is None else _mlp("mlp", hidden, "")
    ops: list[dict[str, Any]] = []
    if arch.layers[0].kind == "dense":
        ops.append({"name": "flatten", "op": "flatten"})
    flat = arch.layers[0].kind == "dense"
    for i, layer in enumerate(arch.layers):
        if layer.kind == "dense" and not flat:
            ops.append({"name": "flatten", "op": "flatten"})
            flat = True
        if layer.kind == "dense":
            ops.append({"name": layer.name, "op": "dense", "outputs": layer.out, "bias": False})
        else:
            ops.append({"name": layer.name, "op": "conv2d", "out_channels": layer.out,
                        "kernel": 3, "padding": 1, "bias": False})
        ops.append({"name": layer.bn, "op": "batchnorm", "eps": BN_EPS})
        if i < len(arch.layers) - 1:
            ops.append({"name": f"sign{i + 1}", "op": "sign"})
        if layer.pool:
            ops.append({"name": f"pool{i + 1}", "op": "maxpool", "kernel": 2})
    return {"name": f"{PREFIX[dataset]}_{arch.name}",
            "input": {"shape": list(arch.input_shape), "mapping": "unipolar"},
            "dataset": {"name": dataset if dataset != "cifar10" else "random"},
            "ops": ops}


# ----------------------------------------------------------------------------- data


def load_split(dataset: str, split: str, data_dir: Path | None) -> tuple[np.ndarray, np.ndarray,
                                                                          str]:
    """Images ``(n, C, H, W)`` uint8, labels int64 and a source line of ``split``."""
    images, labels, src = load_dataset(dataset, split, data_dir)  # CIFAR-10: (n, 3, 32, 32)
    if images.ndim == 3:
        images = images[:, None]
    return np.ascontiguousarray(images), labels.astype(np.int64), src


# ----------------------------------------------------------------------------- evaluation
# float64 NumPy with the BNN fabric's integer arithmetic (module docstring)


def sng_counts(pixels: np.ndarray, n: int, rng: np.random.Generator,
               levels: int = SNG_LEVELS) -> np.ndarray:
    """Per pixel, the number of ones among ``n`` comparator-SNG bits ``[r < p]`` (r uniform
    0..levels-1): Binomial(n, min(p / levels, 1)), int64, the shape of ``pixels``."""
    p = np.minimum(np.asarray(pixels, dtype=np.float64) / levels, 1.0)
    return rng.binomial(n, p).astype(np.int64)


def _bn(x: np.ndarray, arrays: dict[str, np.ndarray], name: str, image_ndim: int) -> np.ndarray:
    p = BatchNormParams(gamma=arrays[f"{name}_gamma"].astype(np.float64),
                        beta=arrays[f"{name}_beta"].astype(np.float64),
                        mean=arrays[f"{name}_mean"].astype(np.float64),
                        var=arrays[f"{name}_var"].astype(np.float64), eps=BN_EPS)
    return batchnorm(x, p, image_ndim=image_ndim)


def _conv3x3(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Padding-1 3x3 convolution of integer-valued float64 ``x`` (N, C, H, W) with +-1 ``w``:
    exact integer sums (every partial sum is an integer far below 2^53)."""
    from numpy.lib.stride_tricks import sliding_window_view

    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = sliding_window_view(xp, (3, 3), axis=(2, 3))  # (N, C, H, W, 3, 3)
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
    z = cols @ w.reshape(w.shape[0], -1).T
    return z.reshape(n, h, wd, -1).transpose(0, 3, 1, 2)


def _maxpool2(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def weight_arrays(arrays: dict[str, np.ndarray], arch: Arch) -> dict[str, np.ndarray]:
    """The +-1 float64 weights of every layer (unpacking ``<op>_wbits``)."""
    out = {}
    for layer in arch.layers:
        if f"{layer.name}_w" in arrays:
            out[layer.name] = arrays[f"{layer.name}_w"].astype(np.float64)
        else:
            shape = weight_shape(arch, layer)
            out[layer.name] = unpack_sign_bits(arrays[f"{layer.name}_wbits"], shape)
    return out


def weight_shape(arch: Arch, layer: Layer) -> tuple[int, ...]:
    """The workload weight shape of ``layer``: (out, in) or (F, C, 3, 3)."""
    c, h, w = arch.input_shape
    for lay in arch.layers:
        if lay.kind == "conv":
            shape: tuple[int, ...] = (lay.out, c, 3, 3)
            c = lay.out
            if lay.pool:
                h, w = h // 2, w // 2
        else:
            shape = (lay.out, c * h * w)
            c, h, w = lay.out, 1, 1
        if lay is layer:
            return shape
    raise KeyError(layer.name)


def scores(arrays: dict[str, np.ndarray], arch: Arch, first: np.ndarray, scale: float,
           weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Output scores (N, 10) float64 for first-layer inputs ``first`` (integer-valued: pixels
    p, or SNG counts c) whose first-layer sums are divided by ``scale`` (255, or N)."""
    ws = weights if weights is not None else weight_arrays(arrays, arch)
    x = first.astype(np.float64)
    for i, layer in enumerate(arch.layers):
        w = ws[layer.name]
        if layer.kind == "dense":
            x = x.reshape(len(x), -1)
            z = x @ w.T
            nd = 1
        else:
            z = _conv3x3(x, w)
            nd = 3
        if i == 0:
            z = z / scale
        y = _bn(z, arrays, layer.bn, nd)
        if i == len(arch.layers) - 1:
            return y
        x = np.where(y >= 0, 1.0, -1.0)
        if layer.pool:
            x = _maxpool2(x)
    raise AssertionError("unreachable")


def evaluate(arrays: dict[str, np.ndarray], arch: Arch, images: np.ndarray, labels: np.ndarray,
             n: int = 0, seed: int = 0, combine: str = "accumulate",
             batch_size: int = 500, levels: int = SNG_LEVELS) -> float:
    """Test accuracy with the fabric's arithmetic: ``n = 0`` the 8-bit input (``a / 255``),
    else ``n`` stochastic presentations combined by first-layer accumulation (``A / n``) or,
    ``combine="scores"``, by running the network per presentation and adding the scores."""
    rng = np.random.default_rng(seed)
    ws = weight_arrays(arrays, arch)
    correct = 0
    for lo in range(0, len(images), batch_size):
        img = images[lo:lo + batch_size]
        if n == 0:
            s = scores(arrays, arch, img, 255.0, ws)
        elif combine == "accumulate":
            s = scores(arrays, arch, sng_counts(img, n, rng, levels), float(n), ws)
        elif combine == "scores":
            s = sum(scores(arrays, arch, sng_counts(img, 1, rng, levels), 1.0, ws)
                    for _ in range(n))
        else:
            raise ValueError(f"combine(={combine!r}) must be 'accumulate' or 'scores'")
        correct += int(np.sum(np.argmax(s, axis=1) == labels[lo:lo + batch_size]))
    return correct / len(images)


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the metadata of a model .npz."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: np.asarray(npz[k]) for k in npz.files if k != "metadata"}
        meta = json.loads(str(npz["metadata"])) if "metadata" in npz.files else {}
    return arrays, meta


def accuracy_table(models: dict[str, dict[str, np.ndarray]], arch: Arch, images: np.ndarray,
                   labels: np.ndarray, n_values: Sequence[int], seed: int,
                   combine: str = "accumulate", levels: int = SNG_LEVELS
                   ) -> dict[str, dict[str, float]]:
    """``{model label: {"8-bit": acc, "N=1": acc, ...}}``; the same random draws for every
    model at a given N (seed ``seed + N``)."""
    out: dict[str, dict[str, float]] = {}
    for label, arrays in models.items():
        row = {"8-bit": evaluate(arrays, arch, images, labels, 0)}
        for n in n_values:
            row[f"N={n}"] = evaluate(arrays, arch, images, labels, n, seed + n, combine,
                                     levels=levels)
        out[label] = row
    return out


def print_table(table: dict[str, dict[str, float]], title: str) -> None:
    cols = list(next(iter(table.values())))
    width = max(len(k) for k in table) + 2
    print(title)
    print(" " * width + "".join(f"{c:>9}" for c in cols))
    for label, row in table.items():
        print(f"{label:<{width}}" + "".join(f"{100 * row[c]:8.2f}%" for c in cols))


# ----------------------------------------------------------------------------- torch model

if torch is not None:

    class SignSTE(torch.autograd.Function):
        """sign(x) (+1 for 0) forward; straight-through gradient where |x| <= 1."""

        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            ctx.save_for_backward(x)
            return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            (x,) = ctx.saved_tensors
            return grad * (x.abs() <= 1).to(grad.dtype)

    def binarize(x: torch.Tensor) -> torch.Tensor:
        """sign with the straight-through estimator (:class:`SignSTE`)."""
        return SignSTE.apply(x)  # type: ignore[no-any-return]

    def sng_mean(pixels: torch.Tensor, n: int, gen: torch.Generator,
                 levels: int = SNG_LEVELS) -> torch.Tensor:
        """Mean over ``n`` comparator-SNG presentations of each pixel (uint8 in a float
        tensor, 0..255): Binomial(n, min(p / levels, 1)) / n, a fresh draw per call."""
        prob = torch.clamp(pixels / levels, max=1.0)
        if n == 1:
            return (torch.rand(prob.shape, generator=gen) < prob).to(pixels.dtype)
        return torch.binomial(torch.full_like(prob, float(n)), prob, generator=gen) / n

    class BNN(nn.Module):
        """The binarized network of an :class:`Arch`: latent weights in [-1, 1], binarized
        with the STE in the forward pass; batch norm before every sign and on the output."""

        def __init__(self, arch: Arch, dropout: float = 0.0, input_dropout: float = 0.0):
            super().__init__()
            self.arch = arch
            self.weights = nn.ParameterDict()
            self.bns = nn.ModuleDict()
            for layer in arch.layers:
                shape = weight_shape(arch, layer)
                fan_in = int(np.prod(shape[1:]))
                w = torch.empty(shape).uniform_(-1, 1) * min(1.0, math.sqrt(3.0 / fan_in) * 4)
                self.weights[layer.name] = nn.Parameter(w)
                bn_cls = nn.BatchNorm1d if layer.kind == "dense" else nn.BatchNorm2d
                self.bns[layer.bn] = bn_cls(layer.out, eps=BN_EPS)
            self.dropout = dropout
            self.input_dropout = input_dropout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """``x``: the first-layer input (p / 255, or the SNG mean c / N), (B, C, H, W)."""
            if self.input_dropout and self.training:
                x = F.dropout(x, self.input_dropout)
            last = len(self.arch.layers) - 1
            for i, layer in enumerate(self.arch.layers):
                wb = binarize(self.weights[layer.name])
                if layer.kind == "dense":
                    z = F.linear(x.flatten(1), wb)
                else:
                    z = F.conv2d(x, wb, padding=1)
                y = self.bns[layer.bn](z)
                if i == last:
                    return y
                x = binarize(y)
                if layer.pool:
                    x = F.max_pool2d(x, 2)
                if self.dropout and self.training and layer.kind == "dense":
                    x = F.dropout(x, self.dropout)
            raise AssertionError("unreachable")

        @torch.no_grad()
        def clip_(self) -> None:
            for p in self.weights.values():
                p.clamp_(-1.0, 1.0)

        def export(self) -> dict[str, np.ndarray]:
            """The workload arrays: bit-packed weight signs and the batch-norm parameters."""
            out: dict[str, np.ndarray] = {}
            for layer in self.arch.layers:
                w = self.weights[layer.name].detach().numpy().astype(np.float64)
                out[f"{layer.name}_wbits"] = pack_sign_bits(w)
                bn = self.bns[layer.bn]
                assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
                assert bn.running_mean is not None and bn.running_var is not None
                out[f"{layer.bn}_gamma"] = bn.weight.detach().numpy().astype(np.float64)
                out[f"{layer.bn}_beta"] = bn.bias.detach().numpy().astype(np.float64)
                out[f"{layer.bn}_mean"] = bn.running_mean.numpy().astype(np.float64)
                out[f"{layer.bn}_var"] = bn.running_var.numpy().astype(np.float64)
            return out


def first_input(pixels: Any, mode: str, n: int, gen: Any, levels: int = SNG_LEVELS) -> Any:
    """The first-layer input of a batch of pixels (float tensor 0..255): ``p / 255``
    (conventional) or the SNG mean over ``n`` presentations (stochastic)."""
    if mode == "conventional":
        return pixels / 255.0
    return sng_mean(pixels, n, gen, levels)


def recompute_bn(model: Any, pixels: Any, mode: str, n: int, gen: Any,
                 batch_size: int = 1000, levels: int = SNG_LEVELS) -> None:
    """Batch-norm running statistics recomputed with the final binary weights: the
    cumulative mean of the per-batch statistics over ``pixels`` (inputs drawn as in
    training), no parameter updates."""
    for bn in model.bns.values():
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    dropout, in_dropout = model.dropout, model.input_dropout
    model.dropout = model.input_dropout = 0.0
    with torch.no_grad():
        for lo in range(0, len(pixels), batch_size):
            model(first_input(pixels[lo:lo + batch_size], mode, n, gen, levels))
    model.dropout, model.input_dropout = dropout, in_dropout
    model.eval()


# ----------------------------------------------------------------------------- main


def default_out(dataset: str, mode: str, n: int) -> Path:
    name = f"{PREFIX[dataset]}_conv" if mode == "conventional" else f"{PREFIX[dataset]}_sc_n{n}"
    return REPO / "archsim" / "models" / f"{name}.npz"


def table_main(paths: list[Path], args: argparse.Namespace) -> int:
    models, dataset = {}, None
    for path in paths:
        arrays, meta = load_arrays(path)
        dataset = dataset or meta.get("dataset")
        models[path.stem] = arrays
    assert dataset is not None, "the models' metadata names no dataset"
    arch = ARCHS[dataset]
    hidden = load_arrays(paths[0])[1].get("hidden")
    if hidden:
        arch = _mlp(arch.name, hidden, arch.workload)
    images, labels, src = load_split(dataset, "test", resolve_data_dir(args.data_dir))
    if args.max_test:
        images, labels = images[: args.max_test], labels[: args.max_test]
    table = accuracy_table(models, arch, images, labels, args.eval_n, args.eval_seed,
                           args.combine, args.sng_levels)
    print_table(table, f"test accuracy ({src}; {len(labels)} images; stochastic inputs "
                       f"combined by {args.combine}, seed {args.eval_seed} + N)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(ARCHS))
    p.add_argument("--data-dir", default=None, help="folder with <dataset>/ (default "
                   "$ARCHSIM_DATA)")
    p.add_argument("--input", default="conventional", choices=("conventional", "stochastic"),
                   help="the first layer's input in training")
    p.add_argument("--n", type=int, default=1, help="stochastic: presentations per image")
    p.add_argument("--hidden", default="", help="MLP hidden sizes, comma-separated (default "
                   "1024,1024)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--init", type=Path, default=None,
                   help="start from this model: a --checkpoint file (latent weights and batch "
                   "norm) or a model .npz (its signs, as latent weights +-0.5)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="also save the latent weights (torch state dict) here, for --init")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--lr", type=float, default=3e-3, help="initial Adam LR (cosine decay)")
    p.add_argument("--lr-final", type=float, default=1e-5)
    p.add_argument("--dropout", type=float, default=0.0, help="dropout after hidden signs")
    p.add_argument("--input-dropout", type=float, default=0.0)
    p.add_argument("--max-train", type=int, default=0, help="first N training images only")
    p.add_argument("--max-test", type=int, default=0, help="first N test images only")
    p.add_argument("--eval-n", default=",".join(map(str, N_VALUES)),
                   help="presentation counts of the accuracy table")
    p.add_argument("--eval-seed", type=int, default=2019)
    p.add_argument("--combine", default="accumulate", choices=("accumulate", "scores"))
    p.add_argument("--sng-levels", type=int, default=SNG_LEVELS, choices=(255, 256),
                   help="the SNG's random numbers are 0..levels-1: P(b = 1) = p / levels")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--table", type=Path, nargs="+", default=None,
                   help="print the accuracy table of these model files (no training)")
    args = p.parse_args(argv)
    args.eval_n = [int(v) for v in str(args.eval_n).split(",") if v]
    if args.table:
        return table_main(args.table, args)
    if torch is None:
        p.error("training needs torch: pip install -e '.[train]'")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    arch = ARCHS[args.dataset]
    if args.hidden:
        arch = _mlp(arch.name, [int(v) for v in args.hidden.split(",")], arch.workload)
    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        p.error("set --data-dir or ARCHSIM_DATA to a folder filled by `archsim data fetch`")
    tr_img, tr_lab, tr_src = load_split(args.dataset, "train", data_dir)
    te_img, te_lab, te_src = load_split(args.dataset, "test", data_dir)
    if args.max_train:
        tr_img, tr_lab = tr_img[: args.max_train], tr_lab[: args.max_train]
        tr_src += f", first {len(tr_lab)} used"
    if args.max_test:
        te_img, te_lab = te_img[: args.max_test], te_lab[: args.max_test]
    print(f"train: {tr_src}\ntest: {te_src}", flush=True)
    x_tr = torch.from_numpy(tr_img.astype(np.float32))
    y_tr = torch.from_numpy(tr_lab)
    mode, n = args.input, args.n

    model = BNN(arch, args.dropout, args.input_dropout)
    if args.init is not None and args.init.suffix == ".pt":
        model.load_state_dict(torch.load(args.init))
    elif args.init is not None:
        init, _ = load_arrays(args.init)
        ws = weight_arrays(init, arch)
        with torch.no_grad():
            for layer in arch.layers:
                model.weights[layer.name].copy_(torch.from_numpy(ws[layer.name] * 0.5))
                bn = model.bns[layer.bn]
                for attr, key in (("weight", "gamma"), ("bias", "beta"),
                                  ("running_mean", "mean"), ("running_var", "var")):
                    getattr(bn, attr).copy_(torch.from_numpy(
                        init[f"{layer.bn}_{key}"].astype(np.float32)))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * math.ceil(len(x_tr) / args.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=args.lr_final)
    history = []
    t_start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        total, correct = 0.0, 0
        for lo in range(0, len(x_tr), args.batch_size):
            idx = perm[lo:lo + args.batch_size]
            out = model(first_input(x_tr[idx], mode, n, gen, args.sng_levels))
            loss = F.cross_entropy(out, y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            model.clip_()
            total += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == y_tr[idx]).sum())
        rec = {"epoch": epoch, "loss": round(total / len(x_tr), 5),
               "train_acc": round(correct / len(x_tr), 5),
               "seconds": round(time.time() - t0, 1)}
        history.append(rec)
        print(rec, flush=True)
    train_seconds = time.time() - t_start
    recompute_bn(model, x_tr, mode, n, gen, levels=args.sng_levels)
    if args.checkpoint is not None:
        torch.save(model.state_dict(), args.checkpoint)
    arrays = model.export()

    eval_n = args.eval_n
    row = {"8-bit": evaluate(arrays, arch, te_img, te_lab, 0)}
    for m in eval_n:
        row[f"N={m}"] = evaluate(arrays, arch, te_img, te_lab, m, args.eval_seed + m,
                                 levels=args.sng_levels)
    out_path = args.out or default_out(args.dataset, mode, n)
    print_table({out_path.stem: row}, f"test accuracy, fabric arithmetic ({te_src}, "
                f"{len(te_lab)} images; first-layer accumulation, seed {args.eval_seed} + N)")
    metadata = {
        "model": f"binarized {arch.name} ({' -> '.join(lay.name for lay in arch.layers)}), "
                 "+-1 weights and activations, batch norm before each sign",
        "dataset": args.dataset,
        "hidden": [lay.out for lay in arch.layers[:-1]] if arch.layers[0].kind == "dense" else [],
        "workload": arch.workload,
        "training_input": mode,
        "presentations": n if mode == "stochastic" else None,
        "combine": "first-layer accumulation (mean of the N presentations' layer-1 sums)"
                   if mode == "stochastic" else None,
        "train_source": tr_src,
        "test_source": te_src,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("out", "data_dir", "table", "checkpoint")},
        "command": "python training/train_bnn.py " + " ".join(sys.argv[1:] if argv is None
                                                               else argv),
        "optimizer": "Adam + cosine LR decay; latent weights clipped to [-1, 1] every step; "
                     "sign with straight-through estimators",
        "bn_statistics": "recomputed after training with the final binary weights over the "
                         "training set (inputs drawn as in training)",
        "test_accuracy": row,
        "test_accuracy_note": "training/train_bnn.py evaluate(): the BNN fabric's integer "
                              "arithmetic in float64 NumPy; 8-bit = a / 255 input; N=k: k "
                              f"comparator-SNG presentations (P(b=1) = p/{args.sng_levels}), "
                              "first-layer accumulation, numpy "
                              f"default_rng(seed {args.eval_seed} + k)",
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    from archsim.workload.weights import save_weights

    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(out_path, arrays, metadata)
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes) after {train_seconds:.0f} s "
          "of training", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
