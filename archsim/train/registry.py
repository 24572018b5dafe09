"""Which differentiable hardware model a fabric trains through: a registry by fabric name.

A fabric's training hook is a factory ``(config, network) -> HardwareModel`` (the elaborated
:class:`~archsim.engine.fabric.FabricNetwork` tells it what the hardware computes: counters,
stream lengths, quantizers). The SC stream fabric registers :mod:`archsim.train.sc`,
the binarized fabric :mod:`archsim.train.bnn` (unscaled sign weights); any other fabric
(the bit-plane PIM fabric) trains through :class:`~archsim.train.model.QuantizerModel`
(the quantizers its workload declares: weight bits and quantizer, masks, ``sign``,
``quantize``; its network exposes ``workload`` and ``workload_weights``) until it registers
a model of its own::

    from archsim.train.registry import register_hardware_model
    register_hardware_model("my_fabric", lambda cfg, net: MyModel(cfg, net))

No fabric name appears in the trainer: it asks this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["hardware_model_for", "register_hardware_model", "registered"]

Factory = Callable[[Any, Any], Any]

_FACTORIES: dict[str, Factory] = {}


def register_hardware_model(fabric: str, factory: Factory) -> None:
    """Train designs of ``fabric`` through ``factory(config, network)``'s model (replaces an
    earlier registration of the same fabric)."""
    _FACTORIES[fabric] = factory


def registered() -> list[str]:
    """The fabrics with a hardware model of their own."""
    _builtin()
    return sorted(_FACTORIES)


def _builtin() -> None:
    if "sc_stream" not in _FACTORIES:
        from archsim.train.sc import sc_hardware_model

        _FACTORIES.setdefault("sc_stream", sc_hardware_model)
    if "bnn" not in _FACTORIES:
        from archsim.train.bnn import bnn_hardware_model

        _FACTORIES.setdefault("bnn", bnn_hardware_model)


def hardware_model_for(cfg: Any, net: Any) -> Any:
    """The hardware model of the design ``cfg`` (elaborated as ``net``): its fabric's
    registered factory, else the workload's quantizers (:class:`QuantizerModel`)."""
    _builtin()
    factory = _FACTORIES.get(cfg.fabric)
    if factory is not None:
        return factory(cfg, net)
    from archsim.config.errors import ConfigError
    from archsim.train.model import QuantizerModel

    workload, weights = getattr(net, "workload", None), getattr(net, "workload_weights", None)
    if workload is None or weights is None:
        raise ConfigError(cfg.source_file, "fabric", cfg.fabric,
                          "a fabric with a training hook (register_hardware_model) or whose "
                          "network exposes .workload and .workload_weights")
    bits = {name: p.bits for name, p in weights.layers.items()
            if getattr(p, "bits", None)}
    layer_meta = workload.model.layers
    quantizers = {name: layer_meta[name].quantizer for name in bits if name in layer_meta}
    masks = {name: p.mask for name, p in weights.layers.items() if p.mask is not None}
    model = QuantizerModel(bits, quantizers, masks)
    model.workload, model.weights = workload, weights
    return model
