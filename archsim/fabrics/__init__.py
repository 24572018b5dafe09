"""Families of accelerator datapaths (fabrics) and the registry that names them.

A fabric plugs into archsim with one registration: ``register_fabric(MyFabric)``.  A design
file picks its fabric with the top-level key ``fabric:`` (default ``sc_stream``, the
stochastic-computing stream datapath of DW-CNN).  The engines know fabrics only through
:mod:`archsim.engine.fabric`; see ``docs/extending.md``.
"""

from __future__ import annotations

from importlib import import_module

from archsim.engine.fabric import Fabric

__all__ = ["DEFAULT_FABRIC", "fabric_names", "get_fabric", "register_fabric"]

DEFAULT_FABRIC = "sc_stream"

#: fabrics shipped with archsim: name -> module that registers it when imported
_BUILTIN = {"sc_stream": "archsim.fabrics.sc_stream",
            "pim_bitplane": "archsim.fabrics.pim_bitplane"}
_REGISTRY: dict[str, type[Fabric]] = {}


def register_fabric(cls: type[Fabric]) -> type[Fabric]:
    """Make ``cls`` available under ``cls.name`` (usable as a class decorator)."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"fabric class {cls.__name__} has no name")
    known = _REGISTRY.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError(f"fabric name(={cls.name!r}) is already registered by {known.__name__}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for name, module in _BUILTIN.items():
        if name not in _REGISTRY:
            import_module(module)


def fabric_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_fabric(name: str) -> type[Fabric]:
    """The fabric registered as ``name``; KeyError listing the known ones otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"fabric(={name!r}) must be one of {sorted(_REGISTRY)}") from None
