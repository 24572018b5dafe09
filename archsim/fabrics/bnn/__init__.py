"""The binarized-neural-network fabric: XNOR-popcount lanes beside ST-MRAM weight arrays.

Binary weights in ST-MRAM (or SRAM) arrays read row by row, the XNOR in a 2T-2MTJ sense
amplifier or in logic, popcount trees, accumulators and per-neuron integer thresholds (batch
norm folded), OR max pooling of binary activations, conv layers as im2col rows; the input
either binarized stochastically (comparator SNGs fed by LFSR, Sobol or ideal random sources,
N presentations combined in the first layer or at the output: Hirtzlin et al., "Stochastic
Computing for Hardware Implementation of Binarized Neural Networks", IEEE Access 2019) or as
8-bit pixels through a multi-bit adder or bit-serial first layer (the conventional BNN).
Design files: ``docs/config.md`` (``fabric: bnn``); the model: ``docs/bnn-model.md``.
"""

from __future__ import annotations

from typing import Any

from archsim.engine.fabric import Fabric
from archsim.fabrics import register_fabric


@register_fabric
class BnnFabric(Fabric):
    """The BNN datapath behind the fabric interface."""

    name = "bnn"
    description = ("binarized NN: XNOR-popcount-threshold lanes beside ST-MRAM/SRAM weight "
                   "arrays, stochastic or fixed-point first layer")

    @classmethod
    def config_model(cls) -> type:
        from archsim.fabrics.bnn.config import BnnConfig

        return BnnConfig

    def expand(self, raw: dict[str, Any], origins: dict[tuple[Any, ...], str]) -> None:
        from archsim.fabrics.bnn.mapping import expand_design

        expand_design(raw, origins)

    def elaborate(self, cfg: Any) -> tuple[Any, dict[str, Any]]:
        from archsim.fabrics.bnn.network import BnnNetwork

        net = BnnNetwork(cfg)
        return net, {"weights": cfg.model.weights, "source": net.weights.source,
                     "model_metadata": dict(net.weights.metadata)}

    def input_shape(self, cfg: Any) -> tuple[int, ...]:
        from archsim.fabrics.bnn.mapping import design_workload

        return tuple(design_workload(cfg.workload_file, cfg.model.weights).input.shape)
