"""Train a low bit-width CNN with DoReFa-style quantization-aware training; export it for the
SOT-MRAM bit-plane in-memory fabric (``pim_bitplane``, docs/pim-bitplane.md).

The network (1x28x28 -> 10), every weighted layer at M-bit DoReFa weights, every hidden
activation at K bits, the input at the 8-bit pixel codes:

    conv1 5x5 (16, no bias) -> batchnorm -> quantize K -> maxpool 2
    conv2 5x5 (32, no bias) -> batchnorm -> quantize K -> maxpool 2 -> flatten (512)
    fc1 (100, no bias) -> batchnorm -> quantize K -> fc2 (10, with bias): the logits

Training (Zhou et al., "DoReFa-Net", arXiv 1606.06160, 2016): the weights are
``wq = 2 quantize_M(tanh(w) / (2 max|tanh(w)|) + 1/2) - 1`` and the activations
``quantize_K(clip(x, 0, 1))``, ``quantize_k(x) = round(x (2^k - 1)) / (2^k - 1)``, both with
the straight-through estimator; the input is p / 255. The logits are scaled by a learned
temperature for the loss only (argmax does not see it). The shipped MNIST models were trained
with a temperature parameter initialised at 4 (4 epochs); the Fashion-MNIST ones with the
log-temperature below (2 epochs, a shared machine's time budget): the commands are in each
model's metadata.

Export: the unsigned weight codes u (``wq = (2u - L) / L``) are fixed once, written as
``<op>_w = (2u - L) / L`` (float32, exact for the loader's recovery of u) with the batch-norm
statistics and fc2's bias, and the model's accuracy is measured by :func:`quantized_eval`: the
exported integer model evaluated in torch float64 exactly as the PIM contract
(docs/pim-bitplane.md) says the simulator computes it (integer accumulation of codes, then
``acc * (step_x * step_w) + b``, batch norm, re-quantization). That is the accuracy the
simulator must reproduce image for image. A workload file for the model is written beside it.

    pip install -e ".[train]"        # torch==2.13.0
    export ARCHSIM_DATA=<folder with mnist/ and fashion-mnist/>
    nice -n 10 python training/train_dorefa.py --dataset mnist --wbits 2 --abits 2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archsim.nn.datasets import load_dataset  # noqa: E402
from archsim.workload import save_weights  # noqa: E402

LAYERS = ("conv1", "conv2", "fc1", "fc2")
BNS = ("bn1", "bn2", "bn3")


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return g


def quantize_k(x: torch.Tensor, k: int) -> torch.Tensor:
    levels = (1 << k) - 1
    return _RoundSTE.apply(x * levels) / levels


def dorefa_weight(w: torch.Tensor, m: int) -> torch.Tensor:
    t = torch.tanh(w)
    return 2 * quantize_k(t / (2 * t.abs().max()) + 0.5, m) - 1


def weight_codes(w: torch.Tensor, m: int) -> np.ndarray:
    """The unsigned DoReFa codes u (int64) of the latent weights ``w``."""
    levels = (1 << m) - 1
    with torch.no_grad():
        t = torch.tanh(w.double())
        u = torch.round((t / (2 * t.abs().max()) + 0.5) * levels)
    return u.clamp(0, levels).to(torch.int64).numpy()


class DorefaCNN(nn.Module):
    def __init__(self, wbits: int, abits: int) -> None:
        super().__init__()
        self.wbits, self.abits = wbits, abits
        self.conv1 = nn.Conv2d(1, 16, 5, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 5, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(512, 100, bias=False)
        self.bn3 = nn.BatchNorm1d(100)
        self.fc2 = nn.Linear(100, 10, bias=True)
        # logit scale for the loss: the raw logits sum up to 100 +-1 products (fc2's fan-in),
        # so start near 1 / sqrt(100) and keep it positive
        self.log_temperature = nn.Parameter(torch.tensor(-2.0))

    @property
    def temperature(self) -> torch.Tensor:
        return torch.exp(self.log_temperature.clamp(-6.0, 2.0))

    def act(self, x: torch.Tensor) -> torch.Tensor:
        return quantize_k(torch.clamp(x, 0.0, 1.0), self.abits)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        m = self.wbits
        x = pixels / 255.0
        x = F.max_pool2d(self.act(self.bn1(F.conv2d(x, dorefa_weight(self.conv1.weight, m)))), 2)
        x = F.max_pool2d(self.act(self.bn2(F.conv2d(x, dorefa_weight(self.conv2.weight, m)))), 2)
        x = self.act(self.bn3(F.linear(x.flatten(1), dorefa_weight(self.fc1.weight, m))))
        return F.linear(x, dorefa_weight(self.fc2.weight, m), self.fc2.bias)


def export_arrays(model: DorefaCNN) -> dict[str, np.ndarray]:
    """The model file's arrays: ``<op>_w = (2u - L) / L``, fc2's bias, batch-norm statistics."""
    levels = (1 << model.wbits) - 1
    out: dict[str, np.ndarray] = {}
    for name in LAYERS:
        u = weight_codes(getattr(model, name).weight, model.wbits)
        out[f"{name}_w"] = ((2 * u - levels) / levels).astype(np.float32)
    out["fc2_b"] = model.fc2.bias.detach().double().numpy()
    for name in BNS:
        bn = getattr(model, name)
        out[f"{name}_gamma"] = bn.weight.detach().double().numpy()
        out[f"{name}_beta"] = bn.bias.detach().double().numpy()
        out[f"{name}_mean"] = bn.running_mean.detach().double().numpy()
        out[f"{name}_var"] = bn.running_var.detach().double().numpy()
    return out


def quantized_eval(arrays: dict[str, np.ndarray], wbits: int, abits: int,
                   pixels: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Predictions of the exported integer model, torch float64, the PIM contract's order."""
    levels_w, levels_a = (1 << wbits) - 1, (1 << abits) - 1
    codes = {}
    for name in LAYERS:
        w = arrays[f"{name}_w"].astype(np.float64)
        scale = float(np.abs(w).max())
        u = np.clip(np.round((w / scale + 1.0) * (levels_w / 2.0)), 0, levels_w)
        codes[name] = (torch.from_numpy(2 * u - levels_w), scale / levels_w)
    bns = {n: [torch.from_numpy(arrays[f"{n}_{k}"]) for k in ("mean", "var", "gamma", "beta")]
           for n in BNS}

    def bn(z: torch.Tensor, name: str) -> torch.Tensor:
        mean, var, gamma, beta = bns[name]
        shape = (1, -1, 1, 1) if z.dim() == 4 else (1, -1)
        denom = torch.sqrt(var + 1e-5)
        return (z - mean.view(shape)) / denom.view(shape) * gamma.view(shape) + beta.view(shape)

    def quant(z: torch.Tensor) -> torch.Tensor:
        return torch.round(torch.clamp(z, 0.0, 1.0) * levels_a)

    preds = []
    with torch.no_grad():
        for lo in range(0, len(pixels), batch):
            a = torch.from_numpy(pixels[lo:lo + batch].astype(np.float64))[:, None]
            step_x = 1.0 / 255.0
            for name, bname in (("conv1", "bn1"), ("conv2", "bn2")):
                c, step_w = codes[name]
                z = F.conv2d(a, c) * (step_x * step_w)
                a = F.max_pool2d(quant(bn(z, bname)), 2)
                step_x = 1.0 / levels_a
            c, step_w = codes["fc1"]
            a = quant(bn(F.linear(a.flatten(1), c) * (step_x * step_w), "bn3"))
            c, step_w = codes["fc2"]
            z = F.linear(a, c) * (step_x * step_w) + torch.from_numpy(arrays["fc2_b"])
            preds.append(torch.argmax(z, dim=1).numpy())
    return np.concatenate(preds)


WORKLOAD = """\
# {name}: a DoReFa W:A = {m}:{k} CNN on {ds} for the SOT-MRAM bit-plane fabric (pim_bitplane),
# written by training/train_dorefa.py (docs/pim-bitplane.md: the integer arithmetic).
name: {name}
description: "DoReFa {m}-bit weights, {k}-bit activations, 8-bit pixel input; {ds}"
input: {{shape: [1, 28, 28], mapping: unipolar}}
dataset: {{name: {ds}}}
model:
  weights: "builtin:{name}"
  layers:
    conv1: {{bits: {m}, quantizer: dorefa}}
    conv2: {{bits: {m}, quantizer: dorefa}}
    fc1: {{bits: {m}, quantizer: dorefa}}
    fc2: {{bits: {m}, quantizer: dorefa}}
ops:
  - {{name: conv1, op: conv2d, out_channels: 16, kernel: 5, bias: false}}
  - {{name: bn1, op: batchnorm}}
  - {{name: q1, op: quantize, bits: {k}}}
  - {{name: pool1, op: maxpool, kernel: 2}}
  - {{name: conv2, op: conv2d, out_channels: 32, kernel: 5, bias: false}}
  - {{name: bn2, op: batchnorm}}
  - {{name: q2, op: quantize, bits: {k}}}
  - {{name: pool2, op: maxpool, kernel: 2}}
  - {{name: flatten, op: flatten}}
  - {{name: fc1, op: dense, outputs: 100, bias: false}}
  - {{name: bn3, op: batchnorm}}
  - {{name: q3, op: quantize, bits: {k}}}
  - {{name: fc2, op: dense, outputs: 10}}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    ap.add_argument("--wbits", type=int, default=2)
    ap.add_argument("--abits", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out-dir", default=str(ROOT / "archsim" / "models"))
    ap.add_argument("--workload-dir", default=str(ROOT / "arch_configs" / "workloads"))
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    xtr, ytr, src = load_dataset(args.dataset, "train", args.data_dir)
    xte, yte, _ = load_dataset(args.dataset, "test", args.data_dir)
    model = DorefaCNN(args.wbits, args.abits)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * ((len(xtr) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    gen = np.random.default_rng(args.seed)
    xt = torch.from_numpy(xtr.astype(np.float32))[:, None]
    yt = torch.from_numpy(ytr.astype(np.int64))
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.from_numpy(gen.permutation(len(xtr)))
        for lo in range(0, len(xtr), args.batch):
            idx = order[lo:lo + args.batch]
            logits = model(xt[idx])
            loss = F.cross_entropy(logits * model.temperature, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    arrays = export_arrays(model)
    preds = quantized_eval(arrays, args.wbits, args.abits, xte)
    acc = float((preds == yte).mean())
    tag = "mnist" if args.dataset == "mnist" else "fashion"
    name = f"dorefa_{tag}_w{args.wbits}a{args.abits}"
    meta = {"network": "dorefa-cnn 16c5-32c5-100-10", "dataset": args.dataset,
            "data_source": src, "wbits": args.wbits, "abits": args.abits,
            "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
            "quantized_test_accuracy": acc, "test_images": int(len(yte)),
            "torch": torch.__version__, "python": platform.python_version(),
            "command": "python training/train_dorefa.py " + " ".join(
                a for a in (argv if argv is not None else sys.argv[1:])
                if not a.startswith("/"))}
    out = Path(args.out_dir) / f"{name}.npz"
    save_weights(out, arrays, meta)
    wl = Path(args.workload_dir) / f"{name}.yaml"
    wl.write_text(WORKLOAD.format(name=name, m=args.wbits, k=args.abits, ds=args.dataset))
    print(json.dumps({"model": str(out), "workload": str(wl), "accuracy": acc}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
