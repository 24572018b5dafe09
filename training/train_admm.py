"""ADMM structured pruning and quantization for the SOT-MRAM bit-plane PIM engine; baselines.

Compresses a small CNN for the ``pim_bitplane`` fabric (Yuan et al., "A Highly Compressed
DNN Design on SOT-MRAM based Processing-in-Memory Engine", 2019, seed of issue 17; the ADMM
framework of Zhang et al., "A Systematic DNN Weight Pruning Framework using Alternating
Direction Method of Multipliers", ECCV 2018, and Ren et al., "ADMM-NN", ASPLOS 2019) and
exports it as a workload model whose masks and per-layer weight bit widths the simulator reads
(``<op>_mask`` in the .npz, ``model.layers.<op>.bits`` in the workload file written beside
it). Networks (:data:`NETS`), each ``conv -> batchnorm -> quantize K -> maxpool`` twice, then
``dense -> batchnorm -> quantize K`` and a last dense layer with bias (the logits); the first
layer reads the 8-bit pixels (``unipolar``):

* ``lenet5`` (MNIST): LeNet-5 (LeCun et al. 1998), 6c5(pad 2)-16c5-120-84-10;
* ``cnn`` (Fashion-MNIST): a small CNN, 16c3-32c3-64-10.

The constraint set S of a layer (``--keep``, ``--bits``, ``--granularity``): at most
``round(keep * G)`` non-zero groups of G (``filters``: rows of a conv weight, output
channels; ``channels``: input channels of a conv; ``rows`` / ``columns`` of a dense weight
matrix: what a sub-array row or bit-line holds), and every kept weight on the M-bit grid the
workload loader quantizes to (``archsim.workload.quantize.quantize_weights``, symmetric:
``code * step``, ``step = max|w| / (2^(M-1) - 1)``; M = 1: ``sign * mean|w|``).

Methods (``--method``), all from one float pre-trained model (``--pretrain-epochs`` or
``--init``):

* ``admm``: ADMM-regularized training: minimise ``loss(W) + sum_l rho/2 ||W_l - Z_l + U_l||^2``
  over W for ``--admm-steps`` mini-batches (W-step, Adam), then ``Z_l = proj_S(W_l + U_l)``
  (Z-step: the Euclidean projection, prune then quantize: keep the groups of largest L2 norm,
  round the kept weights to the grid of their step), ``U_l += W_l - Z_l`` (U-step), ``rho *=
  --rho-mult`` (the schedule; the scaled dual U divided by the same factor); for
  ``--admm-epochs``. Every iteration's relative primal residual ``||W - Z|| / ||W||`` and, at
  the end, W's relative distance to S and whether its masks are the last Z's go into the
  metadata ``history``. Then hard-prune (the masks of ``proj_S(W)``), fix the masks, and
  retrain for ``--retrain-epochs`` with the weights quantized in the forward pass
  (straight-through estimator). The W-step must be long enough for W to follow Z (several
  hundred Adam steps in all, rho grown to O(1)): with a few steps per iteration the dual U
  grows along the pruned groups, Z = proj_S(W + U) swaps groups and the residual stays ~1;
* ``magnitude`` (baseline): structured magnitude pruning of the pre-trained weights (same
  groups, same keep), masked float retraining for ``--admm-epochs + --retrain-epochs`` (the
  same budget), then post-training quantization to the bit widths (by the loader);
* ``binary`` (baseline, the reference works' choice): every layer at M = 1 (scaled sign),
  trained with the straight-through estimator for the same budget, no pruning.

Accuracy: the exported model is loaded through its workload file and evaluated with
``archsim.workload.reference_forward(..., fixed_point=True)``: the integer arithmetic of the
bit-plane datapath (docs/pim-bitplane.md; integer accumulation of weight and activation codes,
``acc * (step_x * step_w) + b``, batch norm and re-quantization in float64), on the full test
set: the figure the simulator reproduces image for image.

    nice -n 10 python training/train_admm.py --net lenet5 --method admm \\
        --keep conv1=1,conv2=0.5,fc1=0.25,fc2=1 --bits 4 --name admm_lenet5_p4_w4
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim.nn.datasets import load_dataset, resolve_data_dir  # noqa: E402
from archsim.workload import load_weights, load_workload, reference_forward  # noqa: E402
from archsim.workload.quantize import quantize_weights  # noqa: E402
from archsim.workload.weights import save_weights  # noqa: E402

try:  # torch is the optional [train] extra
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - exercised where torch is absent
    torch = None  # type: ignore[assignment]

GRANULARITIES = ("filters", "channels", "rows", "columns")


@dataclass(frozen=True)
class LayerSpec:
    """A weighted op: ``conv`` (``out`` filters, ``kernel``, ``padding``) followed by
    batchnorm ``bn``, quantize and 2x2 max pooling, or ``dense`` (``out`` outputs) followed by
    batchnorm and quantize, or the last dense layer (``bn`` empty, with bias)."""

    name: str
    kind: str
    out: int
    kernel: int = 0
    padding: int = 0
    bn: str = ""


@dataclass(frozen=True)
class Net:
    """A network: its layers, data set, and the default pruning granularity per layer."""

    name: str
    dataset: str
    layers: tuple[LayerSpec, ...]
    granularity: dict[str, str]

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        c, h, w = 1, 28, 28
        out: dict[str, tuple[int, ...]] = {}
        for lay in self.layers:
            if lay.kind == "conv":
                out[lay.name] = (lay.out, c, lay.kernel, lay.kernel)
                h = (h + 2 * lay.padding - lay.kernel + 1) // 2
                w = (w + 2 * lay.padding - lay.kernel + 1) // 2
                c = lay.out
            else:
                out[lay.name] = (lay.out, c * h * w)
                c, h, w = lay.out, 1, 1
        return out


NETS: dict[str, Net] = {
    "lenet5": Net("lenet5", "mnist", (
        LayerSpec("conv1", "conv", 6, 5, 2, "bn1"),
        LayerSpec("conv2", "conv", 16, 5, 0, "bn2"),
        LayerSpec("fc1", "dense", 120, bn="bn3"),
        LayerSpec("fc2", "dense", 84, bn="bn4"),
        LayerSpec("fc3", "dense", 10)),
        {"conv1": "filters", "conv2": "filters", "fc1": "columns", "fc2": "columns",
         "fc3": "columns"}),
    "cnn": Net("cnn", "fashion-mnist", (
        LayerSpec("conv1", "conv", 16, 3, 0, "bn1"),
        LayerSpec("conv2", "conv", 32, 3, 0, "bn2"),
        LayerSpec("fc1", "dense", 64, bn="bn3"),
        LayerSpec("fc2", "dense", 10)),
        {"conv1": "filters", "conv2": "filters", "fc1": "columns", "fc2": "columns"}),
}


def workload_yaml(net: Net, abits: int, weights: str, bits: dict[str, int],
                  description: str) -> str:
    """The workload file of a compressed model of ``net``."""
    lines = [f"# {description}", "# written by training/train_admm.py (docs/training.md)",
             f"name: {Path(weights).stem if not weights.startswith('builtin:') else weights[8:]}",
             f'description: "{description}"',
             "input: {shape: [1, 28, 28], mapping: unipolar}",
             f"dataset: {{name: {net.dataset}}}", "model:", f'  weights: "{weights}"',
             "  layers:"]
    lines += [f"    {lay.name}: {{bits: {bits[lay.name]}}}" for lay in net.layers]
    lines.append("ops:")
    for i, lay in enumerate(net.layers):
        if lay.kind == "conv":
            lines.append(f"  - {{name: {lay.name}, op: conv2d, out_channels: {lay.out}, "
                         f"kernel: {lay.kernel}, padding: {lay.padding}, bias: false}}")
        else:
            if i and net.layers[i - 1].kind == "conv":
                lines.append("  - {name: flatten, op: flatten}")
            last = i == len(net.layers) - 1
            lines.append(f"  - {{name: {lay.name}, op: dense, outputs: {lay.out}, "
                         f"bias: {'true' if last else 'false'}}}")
        if lay.bn:
            lines.append(f"  - {{name: {lay.bn}, op: batchnorm}}")
            lines.append(f"  - {{name: q{i + 1}, op: quantize, bits: {abits}}}")
        if lay.kind == "conv":
            lines.append(f"  - {{name: pool{i + 1}, op: maxpool, kernel: 2}}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- projections
# NumPy, float64: the constraint set of one layer


def group_norms(w: np.ndarray, granularity: str) -> np.ndarray:
    """L2 norm of each group of ``w`` (conv ``(F, C, k, k)`` or dense ``(O, I)``)."""
    axis = 0 if granularity in ("filters", "rows") else 1
    other = tuple(a for a in range(w.ndim) if a != axis)
    return np.sqrt(np.sum(w * w, axis=other))


def structured_mask(w: np.ndarray, granularity: str, keep: float) -> np.ndarray:
    """Bool mask keeping the ``max(1, round(keep * G))`` groups of largest L2 norm (ties in
    index order)."""
    norms = group_norms(w, granularity)
    n_keep = max(1, int(round(keep * len(norms))))
    order = np.argsort(-norms, kind="stable")
    kept = np.zeros(len(norms), dtype=bool)
    kept[order[:n_keep]] = True
    axis = 0 if granularity in ("filters", "rows") else 1
    shape = [1] * w.ndim
    shape[axis] = len(norms)
    return np.broadcast_to(kept.reshape(shape), w.shape).copy()


def project(w: np.ndarray, granularity: str, keep: float, bits: int | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean projection of ``w`` onto the layer's constraint set (prune, then quantize the
    kept weights to the grid of the loader's step): ``(z, mask)``."""
    mask = structured_mask(w, granularity, keep) if keep < 1 else np.ones(w.shape, bool)
    z = np.where(mask, w, 0.0)
    if bits is not None:
        codes, step = quantize_weights(z, bits, mask)
        z = codes * step
    return z, mask


# ----------------------------------------------------------------------------- torch model

if torch is not None:

    class _Round(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return torch.round(x)

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return g

    def quantize_act(x: torch.Tensor, k: int) -> torch.Tensor:
        """DoReFa ``round(clip(x, 0, 1) L) / L`` with the straight-through estimator."""
        levels = (1 << k) - 1
        return _Round.apply(torch.clamp(x, 0.0, 1.0) * levels) / levels  # type: ignore

    def quantize_w(w: torch.Tensor, bits: int, mask: torch.Tensor | None) -> torch.Tensor:
        """The loader's symmetric quantizer (``quantize_weights``) with the straight-through
        estimator; pruned weights are 0."""
        keep = torch.ones_like(w, dtype=torch.bool) if mask is None else mask > 0
        kept = w.detach().abs()[keep]
        if bits == 1:
            step = kept.mean() if kept.numel() and float(kept.max()) > 0 else w.new_tensor(1.0)
            q = torch.where(w >= 0, 1.0, -1.0).to(w.dtype) * step
        else:
            top = (1 << (bits - 1)) - 1
            biggest = kept.max() if kept.numel() else w.new_tensor(0.0)
            step = biggest / top if float(biggest) > 0 else w.new_tensor(1.0)
            q = torch.clamp(torch.round(w / step), -top, top) * step
        q = torch.where(keep, q, torch.zeros_like(q))
        return w + (q - w).detach()

    class PimNet(nn.Module):
        """The network of a :class:`Net`; ``masks`` (fixed after hard pruning) and ``qbits``
        (weights quantized in the forward pass) per layer."""

        def __init__(self, net: Net, abits: int):
            super().__init__()
            self.net, self.abits = net, abits
            self.w = nn.ParameterDict()
            self.bns = nn.ModuleDict()
            shapes = net.weight_shapes()
            for lay in net.layers:
                w = torch.empty(shapes[lay.name])
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                self.w[lay.name] = nn.Parameter(w)
                if lay.bn:
                    cls = nn.BatchNorm2d if lay.kind == "conv" else nn.BatchNorm1d
                    self.bns[lay.bn] = cls(lay.out)
            self.bias = nn.Parameter(torch.zeros(net.layers[-1].out))
            self.temperature = nn.Parameter(torch.tensor(1.0))
            self.masks: dict[str, torch.Tensor] = {}
            self.qbits: dict[str, int] = {}

        def weight(self, name: str) -> torch.Tensor:
            w = self.w[name]
            mask = self.masks.get(name)
            if name in self.qbits:
                return quantize_w(w, self.qbits[name], mask)
            return w if mask is None else w * mask

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels / 255.0
            last = len(self.net.layers) - 1
            for i, lay in enumerate(self.net.layers):
                w = self.weight(lay.name)
                if lay.kind == "conv":
                    z = F.conv2d(x, w, padding=lay.padding)
                else:
                    z = F.linear(x.flatten(1), w, self.bias if i == last else None)
                if i == last:
                    return z
                x = quantize_act(self.bns[lay.bn](z), self.abits)
                if lay.kind == "conv":
                    x = F.max_pool2d(x, 2)
            raise AssertionError("unreachable")

        def export(self, bits: dict[str, int]) -> dict[str, np.ndarray]:
            """Workload arrays: ``<op>_w`` (the loader's quantized values ``code * step``,
            float64, 0 where pruned), ``<op>_mask`` for pruned layers, batchnorm, bias."""
            out: dict[str, np.ndarray] = {}
            for lay in self.net.layers:
                w = self.w[lay.name].detach().double().numpy()
                mask = self.masks.get(lay.name)
                m = None if mask is None else mask.numpy().astype(bool)
                if m is not None:
                    w = np.where(m, w, 0.0)
                    if not m.all():
                        out[f"{lay.name}_mask"] = m
                codes, step = quantize_weights(w, bits[lay.name], m)
                out[f"{lay.name}_w"] = codes * step
                if lay.bn:
                    bn = self.bns[lay.bn]
                    out[f"{lay.bn}_gamma"] = bn.weight.detach().double().numpy()
                    out[f"{lay.bn}_beta"] = bn.bias.detach().double().numpy()
                    out[f"{lay.bn}_mean"] = bn.running_mean.double().numpy()
                    out[f"{lay.bn}_var"] = bn.running_var.double().numpy()
            out[f"{self.net.layers[-1].name}_b"] = self.bias.detach().double().numpy()
            return out


def train_epochs(model: Any, x: Any, y: Any, epochs: float, lr: float, batch: int, gen: Any,
                 hook: Any = None, penalty: Any = None, log: str = "") -> list[dict]:
    """Adam with cosine decay over ``epochs`` (fractional allowed); ``penalty()`` is added to
    the loss; ``hook(step)`` runs after every step; masked weights are kept at 0."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = math.ceil(len(x) / batch)
    total = max(1, int(round(epochs * per_epoch)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=lr / 50)
    history, step, t0, run_loss = [], 0, time.time(), 0.0
    while step < total:
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for lo in range(0, len(x), batch):
            if step >= total:
                break
            idx = perm[lo:lo + batch]
            out = model(x[idx])
            loss = F.cross_entropy(out * model.temperature, y[idx])
            if penalty is not None:
                loss = loss + penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            run_loss += float(loss.detach())
            if hook is not None:
                hook(step)
            if step % per_epoch == 0 or step == total:
                rec = {"phase": log, "step": step, "loss": round(run_loss / per_epoch, 4),
                       "seconds": round(time.time() - t0, 1)}
                run_loss = 0.0
                history.append(rec)
                print(rec, flush=True)
    with torch.no_grad():
        for name, mask in model.masks.items():
            model.w[name].mul_(mask)
    return history


def admm(model: Any, net: Net, x: Any, y: Any, keep: dict[str, float], bits: dict[str, int],
         gran: dict[str, str], args: argparse.Namespace, gen: Any) -> list[dict]:
    """ADMM iterations (module docstring); returns the history."""
    names = [lay.name for lay in net.layers]
    Z, U, ZM = {}, {}, {}
    for n in names:
        w = model.w[n].detach().double().numpy()
        z, ZM[n] = project(w, gran[n], keep[n], bits[n])
        Z[n] = torch.from_numpy(z).float()
        U[n] = torch.zeros_like(model.w[n])
    rho = [args.rho]
    residuals: list[dict] = []

    def penalty() -> torch.Tensor:
        return sum(0.5 * rho[0] * torch.sum((model.w[n] - Z[n] + U[n]) ** 2) for n in names)

    def hook(step: int) -> None:
        if step % args.admm_steps:
            return
        with torch.no_grad():
            r = {}
            for n in names:
                v = (model.w[n] + U[n]).double().numpy()
                z, ZM[n] = project(v, gran[n], keep[n], bits[n])
                Z[n] = torch.from_numpy(z).float()
                U[n] += model.w[n] - Z[n]
                r[n] = float(torch.linalg.norm(model.w[n] - Z[n])
                             / torch.linalg.norm(model.w[n]).clamp_min(1e-12))
            residuals.append({"step": step, "rho": round(rho[0], 6),
                              "rel_primal_residual": {k: round(v, 5) for k, v in r.items()}})
            # scaled dual U = y / rho: rescaled when rho grows (Boyd et al., "Distributed
            # Optimization and Statistical Learning via ADMM", 2011, section 3.4.1)
            for n in names:
                U[n] /= args.rho_mult
        rho[0] *= args.rho_mult

    hist = train_epochs(model, x, y, args.admm_epochs, args.lr, args.batch_size, gen, hook,
                        penalty, "admm")
    print({"admm_final_residual": residuals[-1] if residuals else None}, flush=True)
    # where W ends: its distance to the constraint set (the hard prune's projection) and
    # whether its masks are the last Z's
    end: dict[str, Any] = {"phase": "hard-prune", "rel_distance_to_S": {},
                           "mask_agreement_with_Z": {}}
    with torch.no_grad():
        for n in names:
            w = model.w[n].detach().double().numpy()
            z, m = project(w, gran[n], keep[n], bits[n])
            end["rel_distance_to_S"][n] = round(
                float(np.linalg.norm(w - z) / max(np.linalg.norm(w), 1e-12)), 5)
            end["mask_agreement_with_Z"][n] = round(float(np.mean(m == ZM[n])), 5)
    print(end, flush=True)
    return hist + residuals + [end]


def evaluate_workload(workload_file: Path, model_file: Path, images: np.ndarray,
                      labels: np.ndarray) -> float:
    """Accuracy through ``reference_forward(fixed_point=True)`` of the workload with the
    model: the bit-plane datapath's integer arithmetic."""
    wl = load_workload(workload_file, [f"model.weights={model_file.resolve()}"])
    weights = load_weights(wl)
    out = reference_forward(wl, weights, images[:, None], fixed_point=True)[-1]
    return float(np.mean(np.argmax(out, axis=1) == labels))


def compression(net: Net, masks: dict[str, np.ndarray | None], bits: dict[str, int]
                ) -> dict[str, float]:
    """Weights kept and compression rates: by count (total / kept) and by bits (32-bit float
    weights against the kept weights at their widths)."""
    shapes = net.weight_shapes()
    total = sum(int(np.prod(s)) for s in shapes.values())
    kept = {n: int(np.prod(shapes[n])) if m is None else int(m.sum()) for n, m in masks.items()}
    n_kept = sum(kept.values())
    stored_bits = sum(kept[n] * bits[n] for n in kept)
    return {"weights": total, "kept": n_kept, "rate_count": total / n_kept,
            "rate_bits": 32 * total / stored_bits}


def _per_layer(text: str, names: list[str], cast: Any, default: Any) -> dict[str, Any]:
    out = {n: default for n in names}
    if not text:
        return out
    if "=" not in text:
        return {n: cast(text) for n in names}
    for part in text.split(","):
        k, v = part.split("=")
        if k not in out:
            raise SystemExit(f"--keep/--bits/--granularity: no layer {k!r} (have {names})")
        out[k] = cast(v)
    return out


def table(paths: list[Path]) -> str:
    """A markdown table of compressed models (from their metadata)."""
    import json

    rows = ["| model | method | weights kept | rate (count) | rate (bits) | weight bits | "
            "accuracy (simulator arithmetic) | torch float32 |",
            "|---|---|---|---|---|---|---|---|"]
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["metadata"]))
        c = meta["compression"]
        bits = "/".join(str(b) for b in meta["bits"].values())
        rows.append(f"| `{path.stem}` | {meta['method']} | {c['kept']}/{c['weights']} | "
                    f"{c['rate_count']:.1f}x | {c['rate_bits']:.1f}x | {bits} | "
                    f"{100 * meta['test_accuracy']:.2f} % | "
                    f"{100 * meta['torch_test_accuracy']:.2f} % |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", default="lenet5", choices=sorted(NETS))
    p.add_argument("--method", default="admm", choices=("admm", "magnitude", "binary", "float"))
    p.add_argument("--keep", default="", help="fraction of groups kept, one value or "
                   "layer=frac,... (default 1: no pruning)")
    p.add_argument("--bits", default="8", help="weight bits, one value or layer=bits,...")
    p.add_argument("--granularity", default="", help="layer=filters|channels|rows|columns,...")
    p.add_argument("--abits", type=int, default=4, help="activation bits K of every layer")
    p.add_argument("--pretrain-epochs", type=float, default=2)
    p.add_argument("--admm-epochs", type=float, default=1.0)
    p.add_argument("--retrain-epochs", type=float, default=0.5)
    p.add_argument("--admm-steps", type=int, default=25, help="mini-batches per ADMM iteration")
    p.add_argument("--rho", type=float, default=5e-2)
    p.add_argument("--rho-mult", type=float, default=1.4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--init", type=Path, default=None, help="pre-trained checkpoint (.pt)")
    p.add_argument("--save-pretrained", type=Path, default=None)
    p.add_argument("--name", default="", help="model name (default from the settings)")
    p.add_argument("--out-dir", type=Path, default=REPO / "archsim" / "models")
    p.add_argument("--workload-dir", type=Path,
                   default=REPO / "arch_configs" / "workloads" / "pim_admm")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-train", type=int, default=0)
    p.add_argument("--max-test", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--table", type=Path, nargs="+", default=None,
                   help="print the markdown table of these model files (no training)")
    args = p.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    if torch is None:
        p.error("training needs torch: pip install -e '.[train]'")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    net = NETS[args.net]
    names = [lay.name for lay in net.layers]
    keep = _per_layer(args.keep, names, float, 1.0)
    bits = _per_layer(args.bits, names, int, 8)
    gran = {**net.granularity, **_per_layer(args.granularity, names, str, "")}
    gran = {n: g or net.granularity[n] for n, g in gran.items()}
    if args.method == "binary":
        bits = {n: 1 for n in names}
    data_dir = resolve_data_dir(args.data_dir)
    tr_img, tr_lab, tr_src = load_dataset(net.dataset, "train", data_dir)
    te_img, te_lab, te_src = load_dataset(net.dataset, "test", data_dir)
    if args.max_train:
        tr_img, tr_lab = tr_img[: args.max_train], tr_lab[: args.max_train]
    if args.max_test:
        te_img, te_lab = te_img[: args.max_test], te_lab[: args.max_test]
    x = torch.from_numpy(tr_img.astype(np.float32))[:, None]
    y = torch.from_numpy(tr_lab.astype(np.int64))
    print(f"train: {tr_src}\ntest: {te_src}", flush=True)

    model = PimNet(net, args.abits)
    history: list[dict] = []
    t_start = time.time()
    if args.init is not None:
        model.load_state_dict(torch.load(args.init))
    else:
        history += train_epochs(model, x, y, args.pretrain_epochs, args.lr, args.batch_size,
                                gen, log="pretrain")
        if args.save_pretrained is not None:
            torch.save(model.state_dict(), args.save_pretrained)
    budget = args.admm_epochs + args.retrain_epochs
    if args.method == "admm":
        history += admm(model, net, x, y, keep, bits, gran, args, gen)
        for n in names:  # hard prune: the masks of proj_S(W), fixed from here on
            _, m = project(model.w[n].detach().double().numpy(), gran[n], keep[n], None)
            if not m.all():
                model.masks[n] = torch.from_numpy(m).float()
        model.qbits = dict(bits)
        history += train_epochs(model, x, y, args.retrain_epochs, args.lr / 2,
                                args.batch_size, gen, log="retrain")
    elif args.method == "magnitude":
        for n in names:
            _, m = project(model.w[n].detach().double().numpy(), gran[n], keep[n], None)
            if not m.all():
                model.masks[n] = torch.from_numpy(m).float()
        history += train_epochs(model, x, y, budget, args.lr / 2, args.batch_size, gen,
                                log="retrain-masked")
    elif args.method == "binary":
        model.qbits = dict(bits)
        history += train_epochs(model, x, y, budget, args.lr / 2, args.batch_size, gen,
                                log="binary")
    train_seconds = time.time() - t_start
    model.eval()

    masks = {n: (model.masks[n].numpy().astype(bool) if n in model.masks else None)
             for n in names}
    comp = compression(net, masks, bits)
    name = args.name or (f"pimc_{args.net}_{args.method}_x{comp['rate_count']:.0f}"
                         f"_w{max(bits.values())}")
    arrays = model.export(bits)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    args.workload_dir.mkdir(parents=True, exist_ok=True)
    model_file = args.out_dir / f"{name}.npz"
    wl_file = args.workload_dir / f"{name}.yaml"
    bits_txt = "/".join(str(bits[n]) for n in names)
    desc = (f"{net.name} on {net.dataset}, {args.method}: {comp['kept']}/{comp['weights']} "
            f"weights kept ({comp['rate_count']:.1f}x), weight bits {bits_txt}, "
            f"activations {args.abits} bits")
    wl_file.write_text(workload_yaml(net, args.abits, f"builtin:{name}", bits, desc))
    # torch accuracy (float32 forward of the same quantized model) beside the simulator's
    with torch.no_grad():
        xt = torch.from_numpy(te_img.astype(np.float32))[:, None]
        torch_acc = float((model(xt).argmax(1).numpy() == te_lab).mean())
    save_weights(model_file, arrays, {})
    acc = evaluate_workload(wl_file, model_file, te_img, te_lab.astype(np.int64))
    metadata = {
        "model": desc, "net": net.name, "dataset": net.dataset, "method": args.method,
        "keep": keep, "bits": bits, "granularity": gran, "abits": args.abits,
        "compression": comp,
        "test_accuracy": acc,
        "test_accuracy_note": "archsim.workload.reference_forward(fixed_point=True) of the "
                              f"workload {wl_file.name} on {len(te_lab)} test images: the "
                              "bit-plane datapath's integer arithmetic",
        "torch_test_accuracy": torch_acc,
        "train_source": tr_src, "test_source": te_src,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("data_dir", "out_dir", "workload_dir", "save_pretrained",
                                  "table")},
        "command": "python training/train_admm.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "history": history, "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__, "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    save_weights(model_file, arrays, metadata)
    print({"name": name, "accuracy": acc, "torch_accuracy": torch_acc, **comp,
           "bits": bits_txt}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
