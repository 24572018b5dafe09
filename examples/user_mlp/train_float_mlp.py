"""A user's own float MLP on Fashion-MNIST, trained in plain PyTorch and exported to ONNX.

Nothing here knows about stochastic computing: a 784-128-64-10 tanh MLP on bipolar pixels
(2 p / 255 - 1), Adam, 8 epochs. It is the "before" of docs/training.md's example:

    python examples/user_mlp/train_float_mlp.py --data-dir $ARCHSIM_DATA --out mlp.onnx
    archsim import-onnx mlp.onnx --out examples/user_mlp --name fashion_mlp \\
        --mapping bipolar --dataset fashion-mnist --clip 1.0
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from archsim.nn.datasets import load_dataset


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="mlp.onnx")
    p.add_argument("--epochs", type=int, default=8)
    args = p.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(2)
    images, labels, _ = load_dataset("fashion-mnist", "train", args.data_dir)
    x = torch.from_numpy(2.0 * images.reshape(len(images), -1).astype(np.float32) / 255.0 - 1)
    y = torch.from_numpy(labels.astype(np.int64))
    model = nn.Sequential(nn.Linear(784, 128), nn.Tanh(), nn.Linear(128, 64), nn.Tanh(),
                          nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x))
        for lo in range(0, len(x), 128):
            idx = perm[lo:lo + 128]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {float(loss):.4f}", flush=True)
    te_img, te_lab, _ = load_dataset("fashion-mnist", "test", args.data_dir)
    xt = torch.from_numpy(2.0 * te_img.reshape(len(te_img), -1).astype(np.float32) / 255 - 1)
    with torch.no_grad():
        acc = float((model(xt).argmax(1).numpy() == te_lab).mean())
    print(f"float test accuracy (torch): {acc:.4f}")
    torch.onnx.export(model, (xt[:1],), args.out, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
