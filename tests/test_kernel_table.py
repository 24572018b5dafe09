"""The kernel dispatch table of ``archsim.sc.kernels``: each kernel declared once, bound from
the table to the active back end, with the compiled module, the reference and the type stub
agreeing on its signature. (That the two back ends give the same bits is test_kernels.py.)"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from archsim.sc import kernels

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "archsim" / "sc" / "kernels.pyi"
SOURCES = ROOT / "cython_kernels"


def _params(sig: inspect.Signature) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in sig.parameters.values()]


def test_every_kernel_is_in_the_module_the_table_names():
    assert len(set(kernels.API)) == len(kernels.API)
    for name, k in kernels.KERNELS.items():
        source = (SOURCES / f"{k.module}.pyx").read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{name} is not in {k.module}.pyx"
        if k.reference is not None:
            assert k.reference is getattr(kernels.numpy, name)
    # every other compiled module belongs to a fabric that dispatches it itself: the bit-plane
    # fabric's (archsim.fabrics.pim_bitplane.bitplane, tested in tests/test_pim_bitplane.py)
    fabric_modules = {"archsim._kernels_pim_bitplane"}
    assert set(kernels.COMPILED_MODULES) | fabric_modules == {
        f"archsim._kernels_{p.stem}" for p in SOURCES.glob("*.pyx")
    }


def test_public_kernels_call_the_active_backend(monkeypatch):
    fake = SimpleNamespace(**{
        name: (lambda *a, _name=name, **kw: (_name, a, kw)) for name in kernels.API
    })
    monkeypatch.setitem(kernels._BACKENDS, "numpy", fake)
    previous = kernels.use_backend("numpy")
    try:
        for name in kernels.API:
            assert getattr(kernels, name)(1, 2, k=3) == (name, (1, 2), {"k": 3})
            assert getattr(kernels, name).__name__ == name
    finally:
        monkeypatch.undo()
        kernels.use_backend(previous)
    x = kernels.pack_bits([[1, 1, 0]])
    assert kernels.popcount(x, 3).tolist() == [2]


def test_public_kernels_have_the_reference_signature():
    for name in kernels.API:
        ref = getattr(kernels.numpy, name)
        assert _params(inspect.signature(getattr(kernels, name))) == _params(
            inspect.signature(ref)), name


@pytest.mark.skipif(kernels.cython is None, reason="the compiled kernels are not built")
def test_compiled_kernels_have_the_reference_signature():
    for name in kernels.API:
        got = _params(inspect.signature(getattr(kernels.cython, name)))
        assert got == _params(inspect.signature(getattr(kernels.numpy, name))), name
    for name in kernels.KERNELS:  # the compiled-only floors too
        assert callable(getattr(kernels.cython, name)), name


def test_type_stub_declares_every_kernel_with_the_reference_parameters():
    stub = ast.parse(STUB.read_text())
    defs = {node.name: node for node in stub.body if isinstance(node, ast.FunctionDef)}
    assert set(defs) - {"available_backends", "backend", "use_backend"} == set(kernels.API)
    for name in kernels.API:
        args = defs[name].args
        defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
        declared = [(a.arg, inspect.Parameter.empty if d is None else ast.literal_eval(d))
                    for a, d in zip(args.args, defaults, strict=True)]
        assert declared == _params(inspect.signature(getattr(kernels.numpy, name))), name
