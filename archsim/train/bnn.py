"""What the binarized (XNOR-popcount) fabric computes, as a differentiable torch model.

The BNN fabric (:mod:`archsim.fabrics.bnn`) stores each weight as its sign: +1 where
``w >= 0``, else -1, unscaled (the popcount's integer sum goes straight into the batch-norm
threshold). :class:`BnnModel` trains through that arithmetic as Courbariaux et al.,
"Binarized Neural Networks" (NeurIPS 2016) do:

* weights: ``sign(w)`` forward, the hardtanh straight-through gradient; the real-valued
  latent weights are clamped to [-1, 1] after every step (a scaled sign, the workload
  quantizers' K = 1 grid, would put a factor ``mean|w|`` before the fixed batch norm that
  the hardware does not have);
* ``sign`` activations and batch norms as the workload defines them (the base model);
* a stochastic first layer with first-layer accumulation (``input.encoding: stochastic``,
  ``combine: first_layer``): it sees the mean of N binary images whose pixels are 1 with
  probability ``p / 255``, i.e. ``c / N`` with ``c ~ Binomial(N, p / 255)``, drawn in every
  training batch (the ideal source; an LFSR lane's bits over N presentations are less noisy);
  evaluated on the expectation ``p / 255``. Other combination rules train on the expectation.

Registered for the ``bnn`` fabric in :mod:`archsim.train.registry`. Needs torch.
"""

from __future__ import annotations

from typing import Any

import torch

from archsim.train.model import QuantizerModel, ste_sign
from archsim.workload import ops as O

__all__ = ["BnnModel", "bnn_hardware_model"]


class BnnModel(QuantizerModel):
    """Unscaled sign weights (straight-through), latent weights in [-1, 1]; the stochastic
    first layer's Binomial input while training (module docstring)."""

    clamp = 1.0

    def __init__(self, first_layer: str, presentations: int, stochastic: bool) -> None:
        super().__init__()
        self.first_layer = first_layer
        self.presentations = int(presentations)
        self.stochastic = bool(stochastic)

    def weight(self, op: O.WeightedOp, w: torch.Tensor) -> torch.Tensor:
        return ste_sign(w)

    def weighted(self, op: O.WeightedOp, x: torch.Tensor, w: torch.Tensor,
                 b: torch.Tensor | None, noise: bool) -> torch.Tensor:
        if noise and self.stochastic and op.name == self.first_layer:
            n = self.presentations
            x = torch.distributions.Binomial(n, probs=x.clamp(0.0, 1.0)).sample() / n
        return super().weighted(op, x, w, b, noise)

    def describe(self) -> dict[str, Any]:
        first = (f"Binomial({self.presentations}, p / 255) / {self.presentations} while "
                 "training, p / 255 evaluating" if self.stochastic else "p / 255")
        return {"model": "binarized: unscaled sign weights (straight-through), latent "
                         "weights clamped to [-1, 1]",
                "first_layer": self.first_layer, "first_layer_input": first}


def bnn_hardware_model(cfg: Any, net: Any) -> BnnModel:
    """The :class:`BnnModel` of an elaborated ``bnn`` network."""
    workload = net.workload
    inp = cfg.input
    model = BnnModel(workload.weighted_ops[0].name, inp.presentations,
                     inp.encoding == "stochastic" and inp.combine == "first_layer")
    model.workload, model.weights = workload, net.workload_weights
    return model
