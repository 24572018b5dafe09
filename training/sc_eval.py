"""Run a model through the bit-exact SC datapath on any split and measure each layer's transfer.

    python training/sc_eval.py CONFIG [--model NPZ] [--split train|test] [--start K]
        [--count N] [--set key=value ...] [--transfer FILE.npz]

Uses the simulator's own layer kernels (``archsim.fabrics.sc_stream.datapath.compute_layer``) on the
images of the chosen split, so a model can be selected on training images (a validation
slice such as ``--split train --start 55000``) without touching the test set, and without
the timing engine (bits only; the bits are those ``archsim run`` computes for the same image
index, because streams depend on the image only through its pixels).

For every layer it reports the SC accuracy, and the layer's *own* transfer: the float
pre-activation ``z`` computed from the decoded SC outputs of the layer before (max-pooled for
conv layers), against the layer's decoded SC output ``y``. Binned means of ``y`` as a function of
``z`` (``--transfer``) are what the hardware computes in place of ``tanh(z / s)``; their spread
is the stream noise. With APC counters ``z`` is the APC's expected output (the form
``--counter apc`` trains on; needs torch for the import of ``train_lenet5``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "training"))

from archsim.blocks.streams import input_streams  # noqa: E402
from archsim.config.loader import load_config  # noqa: E402
from archsim.fabrics.sc_stream.datapath import compute_layer  # noqa: E402
from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec  # noqa: E402
from archsim.fabrics.sc_stream.layer import decode_layer  # noqa: E402
from archsim.fabrics.sc_stream.network import Network  # noqa: E402
from archsim.nn.datasets import load_dataset  # noqa: E402

BINS = np.linspace(-4.0, 4.0, 81)


def layer_preact(lay, w, b, x: np.ndarray) -> np.ndarray:
    """Float pre-activation of one layer on (decoded) inputs ``x``; conv: 2x2 max-pooled.

    With an APC counter it is the APC's expected decoded count (``apc_inner_numpy``)."""
    apc = lay.counter == "apc"
    if lay.kind == "conv":
        k, ho = lay.kernel, lay.conv_size
        x = x.reshape(lay.in_channels, lay.in_size, lay.in_size)
        if apc:
            from train_lenet5 import _apc_conv_numpy

            z = _apc_conv_numpy(x[None], w, b)[0, :, :ho, :ho]
        else:
            win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, :ho, :ho]
            z = np.einsum("cyxij,fcij->fyx", win, w) + b[:, None, None]
        if lay.pool > 1:
            h2 = ho // 2
            z = z[:, : h2 * 2, : h2 * 2].reshape(lay.filters, h2, 2, h2, 2).max(axis=(2, 4))
        return z.ravel()
    if apc and lay.shared_fc:
        from train_lenet5 import apc_inner_shared_numpy

        return apc_inner_shared_numpy(x.ravel()[None], w, b, lay.mux_groups)[0]
    if apc:
        from train_lenet5 import apc_inner_numpy

        return apc_inner_numpy(x.ravel()[None], w, b)[0]
    return w @ x.ravel() + b


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--model", default=None, help="an .npz (default: the config's model)")
    p.add_argument("--split", default="train", choices=("train", "test"))
    p.add_argument("--start", type=int, default=55000)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--set", action="append", default=[], dest="overrides")
    p.add_argument("--transfer", type=Path, default=None, help="write binned transfer .npz")
    args = p.parse_args(argv)

    overrides = list(args.overrides)
    if args.model:
        overrides.append(f"model.weights={args.model}")
    cfg = load_config(args.config, overrides)
    spec = network_spec(cfg)
    weights, _ = model_weights(cfg, spec)
    net = Network(spec, weights)
    L = spec.stream_length
    images, labels, _ = load_dataset(
        cfg.dataset.name, args.split, args.data_dir, start=args.start, count=args.count
    )
    nl = len(net.layers)
    hist_n = np.zeros((nl, len(BINS) + 1))
    hist_y = np.zeros((nl, len(BINS) + 1))
    hist_y2 = np.zeros((nl, len(BINS) + 1))
    abs_err = np.zeros(nl)
    correct = 0
    t0 = time.time()
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        pix = img.reshape(spec.input_shape)
        x = input_streams(pix, spec.input_rng, L, spec.comparator)
        xin = 2.0 * pix.astype(np.float64) / 255.0 - 1.0  # what the float layer sees
        for li, el in enumerate(net.layers):
            w, b = weights[el.spec.name]
            z = layer_preact(el.spec, np.clip(w, -1, 1), np.clip(b, -1, 1), xin)
            o = compute_layer(el.spec, x, el.weights, L, el.pool_first, image=args.start + i)
            y = decode_layer(el.spec, o.streams, o.counts_sum, L).ravel()
            if el.spec.activation == "none":
                abs_err[li] += np.mean(np.abs(y - z))
                if int(np.argmax(o.counts_sum)) == int(lab):
                    correct += 1
            else:
                abs_err[li] += np.mean(np.abs(y - np.tanh(z / el.spec.btanh_s)))
                k = np.digitize(z, BINS)
                np.add.at(hist_n[li], k, 1)
                np.add.at(hist_y[li], k, y)
                np.add.at(hist_y2[li], k, y * y)
            xin, x = y, o.streams
        if (i + 1) % 50 == 0:
            print(
                f"{i + 1} images, SC acc {correct / (i + 1):.4f}, {time.time() - t0:.0f} s",
                flush=True,
            )
    n = len(labels)
    print(f"SC accuracy {correct / n:.4f} on {n} {args.split} images from {args.start}")
    for li, el in enumerate(net.layers):
        print(f"  {el.spec.name}: r={el.r} mean |SC - f(z from SC inputs)| = {abs_err[li] / n:.4f}")
    if args.transfer:
        np.savez(
            args.transfer,
            bins=BINS,
            n=hist_n,
            y=hist_y,
            y2=hist_y2,
            layers=np.array([el.spec.name for el in net.layers]),
            r=np.array([el.r for el in net.layers]),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
