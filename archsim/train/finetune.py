"""Hardware-aware fine-tuning of any design's model (``archsim train``).

:func:`finetune` takes a design (any fabric, any workload), builds its network in torch
(:class:`~archsim.train.model.TorchWorkload`) computed through the fabric's differentiable
hardware model (:mod:`archsim.train.registry`), optionally measures that model's free
parameters on the bit-exact simulator (:func:`~archsim.train.calibrate.calibrate`), and
trains the weights on the workload's training split:

* Adam with a one-cycle schedule, batch 128, random shifts of up to ``augment_shift`` pixels
  (image inputs), cross-entropy on the output times a learned temperature (argmax, which the
  hardware decodes, does not depend on it), weights clamped to the hardware's range after
  every step, stochastic effects of the hardware model drawn in every batch;
* ``hil_after=LAYER``: hardware in the loop, the layers after ``LAYER`` are trained on the
  accelerator's real decoded outputs of ``LAYER`` for ``hil_images`` training images;
* the last ``val_count`` training images are held out: their accuracy through the model is
  recorded per epoch and the best epoch's weights are kept.

The result is an ``.npz`` in the workload model layout (``model.weights`` of the design) with
the settings, calibration and history in its metadata. Needs torch (``[train]`` extra).
"""

from __future__ import annotations

import datetime as dt
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archsim.train.calibrate import calibrate, hardware_outputs
from archsim.train.model import TorchWorkload
from archsim.train.registry import hardware_model_for
from archsim.workload import map_input

__all__ = ["FinetuneReport", "finetune"]


@dataclass
class FinetuneReport:
    """What :func:`finetune` did: the model file written, the per-epoch history, the
    calibration and the metadata stored in the file."""

    out: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator,
                  fill: float) -> torch.Tensor:
    if max_shift <= 0 or x.dim() != 4:
        return x
    n, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, value=fill)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, x.shape[1], h,
                                                                     pad.shape[-1])
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, x.shape[1], h, w)
    return pad.gather(2, rows).gather(3, cols)


@torch.no_grad()
def _accuracy(model: TorchWorkload, x: torch.Tensor, y: torch.Tensor,
              after: str | None) -> float:
    model.eval()
    correct = 0
    for lo in range(0, len(x), 1000):
        pred = model(x[lo:lo + 1000], after=after).argmax(1)
        correct += int((pred == y[lo:lo + 1000]).sum())
    return correct / max(len(x), 1)


def finetune(design: Any, out: str | Path, *, overrides: Sequence[str] = (),
             epochs: int = 3, lr: float = 5e-4, batch_size: int = 128,
             data_dir: str | None = None, val_count: int = 5000, max_train: int = 0,
             calibrate_images: int = 100, calibrate_noise: bool = False,
             hil_after: str | None = None,
             hil_images: int = 2000, augment_shift: int = 1, seed: int = 1,
             threads: int = 2, tuning: dict[str, Any] | None = None,
             progress: Callable[[dict[str, Any]], None] | None = None) -> FinetuneReport:
    """Fine-tune the model of ``design`` (a path, ``builtin:`` name or
    :class:`archsim.api.Design`; ``overrides`` as ``--set``) through its fabric's hardware
    model and write it to ``out`` (module docstring). ``tuning``: attributes of the
    hardware model to set before training (e.g. ``{"pool_tau": 0.8}``). ``progress(record)``
    gets each epoch's record (loss, validation accuracy, seconds)."""
    from archsim.api import load
    from archsim.config.errors import ConfigError
    from archsim.fabrics import get_fabric
    from archsim.nn.datasets import load_dataset

    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    d = load(design, overrides)
    cfg = d.config
    net, wmeta = get_fabric(cfg.fabric)().elaborate(cfg)
    hw = hardware_model_for(cfg, net)
    for key, value in (tuning or {}).items():
        if not hasattr(hw, key):
            raise ConfigError(None, f"tuning.{key}", value,
                              f"an attribute of {type(hw).__name__}")
        setattr(hw, key, value)
    workload, weights = hw.workload, hw.weights
    model = TorchWorkload(workload, weights, hw)
    model.clamp_()
    name = cfg.dataset.name
    if name not in ("mnist", "fashion-mnist"):
        raise ConfigError(cfg.source_file, "dataset.name", name,
                          "mnist or fashion-mnist (a data set with a training split)")
    images, labels, source = load_dataset(name, "train", data_dir)
    if max_train:
        images, labels = images[:max_train], labels[:max_train]
    shape = workload.input.shape
    pixels = images.reshape(len(images), *shape)
    x_all = torch.from_numpy(map_input(pixels, workload.input.mapping).astype(np.float32))
    y_all = torch.from_numpy(labels.astype(np.int64))
    n_val = min(val_count, len(x_all) // 5)
    n_tr = len(x_all) - n_val
    fill = float(map_input(np.zeros(1, np.uint8), workload.input.mapping)[0])
    t_start = time.time()

    cal: dict[str, Any] = {}
    if calibrate_images and hasattr(hw, "layers"):
        lo = max(0, n_tr - calibrate_images)  # training images, not the held-out ones
        cal = calibrate(model, net, pixels[lo:n_tr], x_all[lo:n_tr].numpy(), 10**6 + lo,
                        fit_noise=calibrate_noise)
        if progress is not None:
            progress({"calibration": cal})
        if hasattr(hw, "calibration"):
            hw.calibration = {"images": f"training images {lo}..{n_tr - 1}", "layers": cal}

    after = None
    x_tr, y_tr = x_all[:n_tr], y_all[:n_tr]
    x_va, y_va = x_all[n_tr:], y_all[n_tr:]
    if hil_after is not None:
        names = [lay.name for lay in net.layers]
        if hil_after not in names[:-1]:
            raise ConfigError(cfg.source_file, "hil_after", hil_after,
                              f"a layer before the last: one of {names[:-1]}")
        k = names.index(hil_after)
        stage = next(s for s in workload.stages() if s.layer.name == hil_after)
        after = stage.output
        out_shape = workload.op(after).out_shape
        m_tr = min(hil_images, n_tr)
        m_va = min(n_val, max(1, hil_images // 4))

        def rec(idx: np.ndarray) -> torch.Tensor:
            vals = hardware_outputs(net, pixels[idx], 0, layers=k + 1)[k]
            return torch.from_numpy(vals.reshape(len(idx), *out_shape))

        tr_idx = np.arange(m_tr)
        va_idx = np.arange(n_tr, n_tr + m_va)
        # image indices as in hardware_outputs' first_index: distinct streams per image
        x_tr = rec(tr_idx)
        y_tr = y_all[tr_idx]
        x_va, y_va = (rec(va_idx), y_all[va_idx]) if m_va else (x_va[:0], y_va[:0])

    params = [p for n, p in model.named_parameters()
              if after is None or n == "log_temperature" or _after(workload, n, after)]
    opt = torch.optim.Adam(params, lr=lr)
    steps = max(1, math.ceil(len(x_tr) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=max(1, epochs),
                                                steps_per_epoch=steps)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, np.ndarray]] | None = None
    start_acc = _accuracy(model, x_va, y_va, after) if len(x_va) else None
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        total = 0.0
        for lo in range(0, len(x_tr), batch_size):
            idx = perm[lo:lo + batch_size]
            xb = x_tr[idx] if after is not None else _random_shift(x_tr[idx], augment_shift,
                                                                    gen, fill)
            logits = model(xb, noise=True, after=after)
            loss = F.cross_entropy(logits * model.log_temperature.exp(), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            model.clamp_()
            total += float(loss.detach()) * len(idx)
        val = _accuracy(model, x_va, y_va, after) if len(x_va) else None
        record = {"epoch": epoch, "loss": round(total / max(len(x_tr), 1), 5),
                  "val_acc_model": val, "seconds": round(time.time() - t0, 1)}
        history.append(record)
        if progress is not None:
            progress(record)
        if best is None or (val is not None and val >= best[0]):
            best = (val if val is not None else 0.0, model.arrays())
    assert best is not None or epochs == 0
    arrays = best[1] if best is not None else model.arrays()
    meta = {
        "trained_by": "archsim train (archsim.train.finetune)",
        "design": d.source, "overrides": list(d.overrides), "fabric": cfg.fabric,
        "init": wmeta, "train_source": source,
        "train_images": len(x_tr), "validation_images": len(x_va),
        "hardware_model": hw.describe(),
        "settings": {"epochs": epochs, "lr": lr, "batch_size": batch_size,
                     "augment_shift": augment_shift, "seed": seed, "max_train": max_train,
                     "hil_after": hil_after, "hil_images": hil_images if hil_after else 0,
                     "calibrate_images": calibrate_images,
                     "calibrate_noise": calibrate_noise, "tuning": dict(tuning or {})},
        "val_acc_model_before": start_acc, "history": history,
        "temperature": float(model.log_temperature.detach().exp()),
        "train_seconds": round(time.time() - t_start, 1),
        "torch_version": torch.__version__, "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    from archsim.workload import save_weights

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(path, arrays, meta)
    return FinetuneReport(path, history, cal, meta)


def _after(workload: Any, param: str, after: str) -> bool:
    """Whether the parameter ``w.<op>`` / ``b.<op>`` belongs to an op after ``after``."""
    op_name = param.split(".", 1)[1] if "." in param else param
    order = [op.name for op in workload.ops]
    return op_name in order and order.index(op_name) > order.index(after)
