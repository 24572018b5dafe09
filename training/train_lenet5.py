"""Train the SC LeNet-5 of DW-CNN in PyTorch and export it for archsim's float reference.

The torch network is the same function as ``archsim.nn.lenet.forward``: bipolar input
2 p / 255 - 1, conv 5x5 (20) -> 2x2 max pool of pre-activations -> tanh(z / s), conv 5x5 (50)
likewise, fc 800->500 + tanh(z / s), fc 500->10 logits. It is trained to suit the SC hardware:

* random shifts of up to 1 pixel (``--augment-shift``) during training;
* every weight and bias is clamped to [-1, 1] after each optimiser step (bipolar numbers);
* SC-aware noise (``--sc-noise-length L``, default 1024, 0 = off): during training, Gaussian
  noise with std ``scale * sqrt(n_inputs / L)`` is added to each inner product (APC output),
  the spread of a sum of ``n_inputs`` bipolar XNOR products decoded from L-bit streams, so the
  network learns margins that survive stochastic-stream noise;
* cross-entropy is taken on ``logits * T`` with a learned temperature T (recorded in the
  metadata); the hardware decodes argmax, which T does not change.

Its float test accuracy is measured on the full test set with the NumPy reference (not torch)
and written, with the settings, into the .npz metadata.

    python training/train_lenet5.py --dataset mnist --data-dir $ARCHSIM_DATA
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archsim.nn.datasets import load_dataset, resolve_data_dir  # noqa: E402
from archsim.nn.lenet import LeNet5Weights, accuracy, save_weights  # noqa: E402

DEFAULT_OUT = {
    "mnist": REPO / "archsim" / "models" / "lenet5_mnist.npz",
    "fashion-mnist": REPO / "archsim" / "models" / "lenet5_fashion.npz",
}


class SCLeNet5(nn.Module):
    """LeNet-5 with SC semantics: pool before tanh, weights in [-1, 1], optional APC noise."""

    def __init__(self, s: float, noise_length: int, noise_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)
        self.s = s
        self.log_temperature = nn.Parameter(torch.zeros(()))
        # std of a sum of n bipolar products from L-bit streams: sqrt(n / L) (upper bound);
        # n counts the bias stream too.
        self.noise_std = {
            name: (noise_scale * math.sqrt((fan_in + 1) / noise_length) if noise_length else 0.0)
            for name, fan_in in (("conv1", 25), ("conv2", 500), ("fc1", 800), ("fc2", 500))
        }

    def _noisy(self, z: torch.Tensor, layer: str, noise: bool) -> torch.Tensor:
        std = self.noise_std[layer]
        if noise and std > 0:
            z = z + torch.randn_like(z) * std
        return z

    def forward(self, x: torch.Tensor, noise: bool = False) -> torch.Tensor:
        z = self._noisy(self.conv1(x), "conv1", noise)
        x = torch.tanh(F.max_pool2d(z, 2) / self.s)
        z = self._noisy(self.conv2(x), "conv2", noise)
        x = torch.tanh(F.max_pool2d(z, 2) / self.s)
        z = self._noisy(self.fc1(x.flatten(1)), "fc1", noise)
        x = torch.tanh(z / self.s)
        return self._noisy(self.fc2(x), "fc2", noise)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep every weight and bias a valid bipolar number."""
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            layer.weight.clamp_(-1.0, 1.0)
            layer.bias.clamp_(-1.0, 1.0)

    def export(self, metadata: dict) -> LeNet5Weights:
        """Weights for archsim.nn.lenet (float32)."""

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32)

        return LeNet5Weights(
            conv1_w=arr(self.conv1.weight), conv1_b=arr(self.conv1.bias),
            conv2_w=arr(self.conv2.weight), conv2_b=arr(self.conv2.bias),
            fc1_w=arr(self.fc1.weight), fc1_b=arr(self.fc1.bias),
            fc2_w=arr(self.fc2.weight), fc2_b=arr(self.fc2.bias),
            s=dict.fromkeys(("conv1", "conv2", "fc1"), self.s),
            metadata=metadata,
        )  # fmt: skip


def to_bipolar(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) bipolar, exactly as the reference does."""
    x = torch.from_numpy(images.astype(np.float32))[:, None]
    return x * (2.0 / 255.0) - 1.0


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (background -1 = black)."""
    if max_shift <= 0:
        return x
    n, size = x.shape[0], x.shape[-1]
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    ar = torch.arange(size)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + ar)[:, None, :, None].expand(n, 1, size, pad.shape[-1])
    cols = (dx[:, None] + ar)[:, None, None, :].expand(n, 1, size, size)
    return pad.gather(2, rows).gather(3, cols)


@torch.no_grad()
def evaluate(model: SCLeNet5, x: torch.Tensor, y: torch.Tensor, noise: bool) -> float:
    model.eval()
    correct = 0
    for lo in range(0, len(x), 1000):
        pred = model(x[lo : lo + 1000], noise=noise).argmax(1)
        correct += int((pred == y[lo : lo + 1000]).sum())
    return correct / len(x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=sorted(DEFAULT_OUT))
    p.add_argument(
        "--data-dir", default=None, help="folder with <dataset>/ (default $ARCHSIM_DATA)"
    )
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam LR (one-cycle schedule)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--tanh-s", type=float, default=1.0, help="tanh gain s of every layer")
    p.add_argument("--sc-noise-length", type=int, default=1024, help="stream length L; 0 = off")
    p.add_argument("--sc-noise-scale", type=float, default=1.0)
    p.add_argument(
        "--augment-shift", type=int, default=1, help="max random shift in pixels (0 = off)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(args.seed)

    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        p.error("set --data-dir or ARCHSIM_DATA to a folder filled by `archsim data fetch`")
    tr_img, tr_lab, tr_src = load_dataset(args.dataset, "train", data_dir)
    te_img, te_lab, te_src = load_dataset(args.dataset, "test", data_dir)
    x_tr, y_tr = to_bipolar(tr_img), torch.from_numpy(tr_lab.astype(np.int64))
    x_te, y_te = to_bipolar(te_img), torch.from_numpy(te_lab.astype(np.int64))
    print(f"train: {tr_src}\ntest: {te_src}", flush=True)

    model = SCLeNet5(args.tanh_s, args.sc_noise_length, args.sc_noise_scale)
    model.clamp_()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(x_tr) / args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
    )
    history = []
    t_start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        total_loss = 0.0
        for lo in range(0, len(x_tr), args.batch_size):
            idx = perm[lo : lo + args.batch_size]
            xb = random_shift(x_tr[idx], args.augment_shift, gen)
            logits = model(xb, noise=True)
            loss = F.cross_entropy(logits * model.log_temperature.exp(), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            model.clamp_()
            total_loss += float(loss.detach()) * len(idx)
        acc = evaluate(model, x_te, y_te, noise=False)
        acc_noisy = evaluate(model, x_te, y_te, noise=True) if args.sc_noise_length else None
        rec = {
            "epoch": epoch,
            "loss": round(total_loss / len(x_tr), 5),
            "test_acc_torch": acc,
            "test_acc_torch_noisy": acc_noisy,
            "temperature": round(float(model.log_temperature.exp()), 5),
            "seconds": round(time.time() - t0, 1),
        }
        history.append(rec)
        print(rec, flush=True)
    train_seconds = time.time() - t_start

    metadata = {
        "model": "SC LeNet-5 (DW-CNN): 784-11520-2880-3200-800-500-10, pool before tanh",
        "dataset": args.dataset,
        "train_source": tr_src,
        "test_source": te_src,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
        "optimizer": "Adam + OneCycleLR (cosine), weights/biases clamped to [-1,1] every step",
        "loss": "cross-entropy on logits * T, T learned",
        "temperature": float(model.log_temperature.exp()),
        "sc_noise_std": model.noise_std,
        "epochs": args.epochs,
        "history": history,
        "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    weights = model.export(metadata)
    float_acc = accuracy(weights, te_img, te_lab)
    metadata["float_test_accuracy"] = float_acc
    metadata["float_test_accuracy_note"] = (
        f"archsim.nn.lenet.forward (NumPy, float64) on the full {len(te_lab)}-image test set"
    )
    out = args.out or DEFAULT_OUT[args.dataset]
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(weights, out)
    print(
        f"float test accuracy (NumPy reference): {float_acc:.4f}; wrote {out} "
        f"({out.stat().st_size} bytes) in {train_seconds:.0f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
