"""The stochastic-computing stream fabric (DW-CNN, Ma et al., ISQED 2018).

Bipolar bit streams, XNOR multipliers, APC or exact parallel counters, segment max pooling,
Btanh activations, filter-shared conv weights and the MUX-shared FC layer; weights in SRAM,
domain-wall memory or STT-MRAM, stored as binary words (then SNGs) or as stochastic streams.
Design files of this fabric are described in ``docs/config.md``; the model in
``docs/dwcnn-model.md``.
"""

from __future__ import annotations

from typing import Any

from archsim.engine.fabric import Fabric
from archsim.fabrics import register_fabric


@register_fabric
class ScStreamFabric(Fabric):
    """The SC stream datapath behind the fabric interface."""

    name = "sc_stream"
    description = ("stochastic-computing bit streams: XNOR, APC/PC, segment max pooling, Btanh, "
                   "MUX-shared FC; weights in SRAM, DWM or STT-MRAM")

    @classmethod
    def config_model(cls) -> type:
        from archsim.config.schema import ArchConfig

        return ArchConfig

    def expand(self, raw: dict[str, Any], origins: dict[tuple[Any, ...], str]) -> None:
        from archsim.fabrics.sc_stream.mapping import expand_design

        expand_design(raw, origins)

    def elaborate(self, cfg: Any) -> tuple[Any, dict[str, Any]]:
        from archsim.fabrics.sc_stream.elaborate import model_weights, network_spec
        from archsim.fabrics.sc_stream.network import Network

        spec = network_spec(cfg)
        weights, meta = model_weights(cfg, spec)
        return Network(spec, weights), meta

    def input_shape(self, cfg: Any) -> tuple[int, ...]:
        from archsim.fabrics.sc_stream.elaborate import network_spec

        return network_spec(cfg).input_shape
