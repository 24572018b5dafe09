"""The hardware in the loop: what an elaborated accelerator really outputs, layer by layer.

Fabric-neutral: :func:`hardware_outputs` drives any
:class:`~archsim.engine.fabric.FabricNetwork` through its interface (``encode``, then each
layer's ``compute``), exactly the bits ``archsim run`` computes for the same image index, and
returns each layer's decoded output (``LayerOutput.value``). Two uses in training:

* :func:`calibrate` measures, for every layer with a ``btanh``, the gain g and spread sigma
  of the hardware's activation (``y ~ tanh(g z / s) + sigma sqrt(1 - y^2) noise``), where z
  is the model's pre-activation computed from the *hardware's* decoded inputs of that layer:
  the SC Btanh's transfer as the simulator computes it, not as assumed, and the spread of the
  last layer's decoded outputs about the model's expectation (the training noise);
* hardware-in-the-loop fine-tuning (:func:`archsim.train.finetune.finetune` with
  ``hil_after``) trains the layers after one layer on that layer's real outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from archsim.train.model import TorchWorkload
from archsim.workload import ops as O

__all__ = ["calibrate", "hardware_outputs"]


def hardware_outputs(net: Any, pixels: np.ndarray, first_index: int,
                     progress: Callable[[int], None] | None = None,
                     layers: int | None = None) -> list[np.ndarray]:
    """Each layer's decoded output for the images ``pixels`` (N, C, H, W) uint8, computed
    by the accelerator ``net`` as image indices ``first_index ...``: one array
    (N, *layer output) per layer, in layer order (the last: the decoded class sums);
    ``layers``: only the first that many layers."""
    todo = list(net.layers)[:layers]
    per_layer: list[list[np.ndarray]] = [[] for _ in todo]
    for i, pix in enumerate(pixels):
        data = net.encode(pix)
        for k, lay in enumerate(todo):
            out = lay.compute(data, first_index + i)
            assert out.value is not None
            per_layer[k].append(np.asarray(out.value, dtype=np.float32))
            data = out.data
        if progress is not None:
            progress(i + 1)
    return [np.stack(v) for v in per_layer]


def _fit_gain(z: np.ndarray, y: np.ndarray, s: float) -> tuple[float, float]:
    """Least-squares g of y ~ tanh(g z / s) on a grid, and the spread sigma of the rest."""
    grid = np.linspace(0.05, 3.0, 296)
    err = [float(np.mean((y - np.tanh(g * z / s)) ** 2)) for g in grid]
    g = float(grid[int(np.argmin(err))])
    t = np.tanh(g * z / s)
    sigma = float(np.sqrt(np.mean((y - t) ** 2) / max(float(np.mean(1 - t * t)), 1e-3)))
    return g, sigma


@torch.no_grad()
def calibrate(model: TorchWorkload, net: Any, pixels: np.ndarray, inputs: np.ndarray,
              first_index: int, fit_noise: bool = False) -> dict[str, dict[str, float]]:
    """Measure and set the Btanh gain and spread of every layer (module docstring) on the
    images ``pixels`` (uint8, for the hardware) / ``inputs`` (mapped, for the model); the
    hardware model ``model.hw`` must have per-layer ``gain`` and ``spread`` (``layers``).
    Returns ``{layer: {"gain", "spread", "error_before", "error_after"}}``.

    The last layer (no Btanh): the spread of the accelerator's decoded outputs about the
    model's expected ones, both computed from the accelerator's real outputs of the layer
    before, is measured as ``noise_std_measured`` beside the model's ``noise_std_model``
    (``noise_scale sqrt(n / L)``); ``fit_noise`` sets ``noise_scale`` so the two agree (a
    MUX-shared last layer is far noisier than ``sqrt(n / L)`` of its G-input counter)."""
    hw_out = hardware_outputs(net, pixels, first_index)
    names = [lay.name for lay in net.layers]
    stages = {st.layer.name: st for st in model.workload.stages()}
    result: dict[str, dict[str, float]] = {}
    prev: str | None = None  # the op whose output the layer reads
    x_in = torch.from_numpy(np.asarray(inputs, dtype=np.float32))
    for k, name in enumerate(names):
        stage = stages[name]
        act = next((op for op in stage.ops if isinstance(op, O.Btanh)), None)
        cap: dict[str, torch.Tensor] = {}
        if prev is None:
            expected = model(x_in, capture=cap)
        else:
            shape = model.workload.op(prev).out_shape
            expected = model(torch.from_numpy(hw_out[k - 1]).reshape(len(pixels), *shape),
                             after=prev, capture=cap)
        layer_hw = model.hw.layers[name]  # type: ignore[attr-defined]
        if act is None and k == len(names) - 1 and hasattr(model.hw, "noise_unit"):
            hw_model: Any = model.hw
            op = stage.layer
            w_last = hw_model.weight(op, model.w[op.name])
            b_last = hw_model.bias(op, model.b[op.name]) if op.name in model.b else None
            unit_t = hw_model.noise_unit(op, cap[op.input], w_last, b_last)
            unit = float(torch.sqrt(torch.mean(torch.as_tensor(unit_t) ** 2)))  # rms
            resid = hw_out[k].reshape(len(pixels), -1).astype(np.float64) \
                - expected.reshape(len(pixels), -1).numpy().astype(np.float64)
            measured = float(np.std(resid))
            result[name] = {"noise_std_measured": measured,
                            "noise_std_model": hw_model.noise_scale * unit}
            if fit_noise:
                hw_model.noise_scale = measured / unit
                result[name]["noise_scale"] = hw_model.noise_scale
        if act is not None:
            z = cap[act.input].reshape(len(pixels), -1).numpy().astype(np.float64)
            y = hw_out[k].reshape(len(pixels), -1).astype(np.float64)
            before = float(np.mean(np.abs(y - np.tanh(layer_hw.gain * z / act.s))))
            g, sigma = _fit_gain(z.ravel(), y.ravel(), act.s)
            layer_hw.gain, layer_hw.spread = g, sigma
            after = float(np.mean(np.abs(y - np.tanh(g * z / act.s))))
            result[name] = {"gain": g, "spread": sigma, "error_before": before,
                            "error_after": after}
        prev = stage.output
    return result
